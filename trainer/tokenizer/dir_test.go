package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// qwen25Config is the part of Qwen2.5-Instruct's tokenizer_config.json the
// trainer reads, with a shorter chat template (testdata/chat holds the
// real one).
const qwen25Config = `{
  "add_prefix_space": false,
  "bos_token": null,
  "chat_template": "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
  "clean_up_tokenization_spaces": false,
  "eos_token": "<|im_end|>",
  "errors": "replace",
  "model_max_length": 131072,
  "pad_token": "<|endoftext|>",
  "split_special_tokens": false,
  "tokenizer_class": "Qwen2Tokenizer"
}
`

func writeDir(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/tiny-tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSaveDirKeepsConfig: a model directory's tokenizer_config.json (its
// chat template) survives LoadDir → SaveDir byte for byte, and the saved
// tokenizer encodes as the original.
func TestSaveDirKeepsConfig(t *testing.T) {
	tk, err := LoadDir(writeDir(t, qwen25Config))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tk.ChatTemplate(), "<|im_start|>") {
		t.Fatalf("ChatTemplate = %q", tk.ChatTemplate())
	}
	out := filepath.Join(t.TempDir(), "ckpt")
	if err := tk.SaveDir(out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, ConfigFileName))
	if err != nil || string(got) != qwen25Config {
		t.Fatalf("saved tokenizer_config.json = %q, %v", got, err)
	}
	back, err := LoadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range corpus {
		if a, b := tk.Encode(s), back.Encode(s); !slices.Equal(a, b) {
			t.Fatalf("Encode(%q) after SaveDir = %v, want %v", s, b, a)
		}
	}
}

// TestSaveDirWritesChatML: a tokenizer without a config (the from-scratch
// ByteLevel one) saves one whose template, eos and pad tokens are ChatML's.
func TestSaveDirWritesChatML(t *testing.T) {
	dir := t.TempDir()
	if err := ByteLevel().SaveDir(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ConfigFileName))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c["chat_template"] != ChatMLTemplate || c["eos_token"] != IMEndToken || c["pad_token"] != EndOfTextToken {
		t.Fatalf("tokenizer_config.json = %s", b)
	}
	back, err := LoadDir(dir)
	if err != nil || back.ChatTemplate() != ChatMLTemplate || back.VocabSize() != 259 {
		t.Fatalf("LoadDir of the saved directory: %v", err)
	}
}

func TestLoadDirRejects(t *testing.T) {
	if tk, err := LoadDir(writeDir(t, "")); err != nil || tk.ChatTemplate() != "" {
		t.Fatalf("a directory without tokenizer_config.json: %v", err)
	}
	cases := []struct {
		name, config string
		sentinel     error
		want         string
	}{
		{"malformed", `{"chat_template": `, ErrFormat, ConfigFileName},
		{"template that does not compile", `{"chat_template": "{% for m in messages %}[INST] {{ m.content }} [/INST]"}`, ErrChatTemplate, ConfigFileName},
		{"template type", `{"chat_template": 3}`, ErrFormat, "neither a string"},
		{"no default", `{"chat_template": [{"name": "tool_use", "template": "<|im_start|><|im_end|>"}]}`, ErrFormat, `no "default"`},
		{"unknown eos", `{"eos_token": {"content": "</s>"}}`, ErrFormat, `eos_token "</s>"`},
	}
	for _, c := range cases {
		_, err := LoadDir(writeDir(t, c.config))
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %v naming %q", c.name, err, c.sentinel, c.want)
		}
	}
	named := `{"chat_template": [{"name": "default", "template": "<|im_start|>x<|im_end|>"}], "eos_token": "<|endoftext|>"}`
	if tk, err := LoadDir(writeDir(t, named)); err != nil || tk.ChatTemplate() != "<|im_start|>x<|im_end|>" {
		t.Errorf("named templates: %v", err)
	}
	if _, err := LoadDir(t.TempDir()); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), FileName) {
		t.Errorf("a directory without tokenizer.json: %v", err)
	}
}
