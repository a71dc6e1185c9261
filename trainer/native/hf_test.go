package native

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"resyn/trainer/hf"
	"resyn/trainer/safetensors"
)

// TestHFRoundTrip saves a random model with SaveHF as fp32, bf16 and fp16
// (single file and sharded), loads it back with LoadHF, and checks the
// log-probs: identical for fp32; for bf16/fp16 identical to the original
// model with its weights rounded the same way.
func TestHFRoundTrip(t *testing.T) {
	rounders := map[safetensors.DType]func(float32) float32{
		safetensors.F32:  func(f float32) float32 { return f },
		safetensors.BF16: func(f float32) float32 { return safetensors.BF16ToFloat32(safetensors.Float32ToBF16(f)) },
		safetensors.F16:  func(f float32) float32 { return safetensors.F16ToFloat32(safetensors.Float32ToF16(f)) },
	}
	for _, tie := range []bool{true, false} {
		for dt, round := range rounders {
			for _, shard := range []int64{0, 8 << 10} {
				cfg := tinyConfig(tie)
				m := newTiny(t, cfg, 31)
				dir := filepath.Join(t.TempDir(), "ckpt")
				if err := m.SaveHF(dir, cfg.HF(), hf.SaveOptions{DType: dt, MaxShardBytes: shard}); err != nil {
					t.Fatal(err)
				}
				if shard > 0 {
					if _, err := os.Stat(filepath.Join(dir, hf.IndexFile)); err != nil {
						t.Fatalf("sharded save wrote no index: %v", err)
					}
				}
				back, hcfg, err := LoadHF(dir, Options{Threads: 2, MaxSeqLen: cfg.MaxSeqLen})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { back.Close() })
				if hcfg.TieWordEmbeddings != tie || back.Config().VocabSize != cfg.VocabSize {
					t.Fatalf("config came back as %+v", back.Config())
				}
				for name, w := range readAll(t, m, Weights) {
					for i := range w {
						w[i] = round(w[i])
					}
					if err := m.Write(Weights, name, w); err != nil {
						t.Fatal(err)
					}
				}
				b := randomBatch(newRNG(6), 2, 9, cfg.VocabSize)
				want, _ := forward(t, m, b)
				got, _ := forward(t, back, b)
				if !slices.Equal(want, got) {
					t.Fatalf("tie=%v %s shard=%d: log-probs after the round trip %v, want %v", tie, dt, shard, got, want)
				}
			}
		}
	}
}

func TestLoadHFErrors(t *testing.T) {
	cfg := tinyConfig(false)
	m := newTiny(t, cfg, 1)
	dir := t.TempDir()
	if err := m.SaveHF(dir, cfg.HF(), hf.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	// a config that disagrees with the weights
	h := cfg.HF()
	h.IntermediateSize = 20
	if err := hf.Save(filepath.Join(t.TempDir(), "x"), h, nil, hf.SaveOptions{}); err == nil {
		t.Fatal("hf.Save accepted no tensors")
	}
	if err := m.SaveHF(t.TempDir(), h, hf.SaveOptions{}); !errors.Is(err, hf.ErrTensors) {
		t.Fatalf("SaveHF with a mismatched config: %v", err)
	}
	if _, _, err := LoadHF(t.TempDir(), Options{}); !errors.Is(err, hf.ErrConfig) {
		t.Fatalf("LoadHF of an empty directory: %v", err)
	}
	// features the model would silently ignore are refused
	h = cfg.HF()
	h.Extra = map[string]json.RawMessage{"rope_scaling": json.RawMessage(`{"type":"yarn","factor":4}`)}
	if err := m.SaveHF(dir, h, hf.SaveOptions{}); !errors.Is(err, hf.ErrConfig) || !strings.Contains(err.Error(), "rope_scaling") {
		t.Fatalf("SaveHF with rope_scaling: %v", err)
	}
	b, _ := json.Marshal(h)
	os.WriteFile(filepath.Join(dir, hf.ConfigFile), b, 0o644)
	if _, _, err := LoadHF(dir, Options{}); !errors.Is(err, hf.ErrConfig) || !strings.Contains(err.Error(), "rope_scaling") {
		t.Fatalf("LoadHF with rope_scaling: %v", err)
	}
	h.Extra = map[string]json.RawMessage{"use_sliding_window": json.RawMessage(`true`)}
	b, _ = json.Marshal(h)
	os.WriteFile(filepath.Join(dir, hf.ConfigFile), b, 0o644)
	if _, _, err := LoadHF(dir, Options{}); !errors.Is(err, ErrArgument) || !strings.Contains(err.Error(), "use_sliding_window") {
		t.Fatalf("LoadHF with use_sliding_window: %v", err)
	}
}
