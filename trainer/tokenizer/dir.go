package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The files of a Hugging Face model directory that hold its tokenizer.
const (
	FileName       = "tokenizer.json"
	ConfigFileName = "tokenizer_config.json"
)

// ChatMLTemplate is the Jinja chat template SaveDir writes for a tokenizer
// that brought no tokenizer_config.json: exactly the text FormatChat
// produces (Qwen2.5's template without tools and without its default
// system prompt), so that transformers' apply_chat_template formats
// conversations as the trainer did.
const ChatMLTemplate = "{% for message in messages %}" +
	"{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
	"{% endfor %}" +
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// LoadDir reads the tokenizer of a Hugging Face model directory:
// tokenizer.json, and tokenizer_config.json when there is one. The config
// is kept as it is (SaveDir writes it back unchanged); its chat_template,
// when it has one, must be a ChatML template (<|im_start|>role\n…<|im_end|>),
// the only format EncodeChat writes, and its eos_token must be a token of
// the vocabulary.
func LoadDir(dir string) (*Tokenizer, error) {
	t, err := Load(filepath.Join(dir, FileName))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ConfigFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	if err := t.setConfig(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// configJSON is what the trainer reads from tokenizer_config.json.
type configJSON struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	EOSToken     json.RawMessage `json:"eos_token"`
}

// setConfig checks a tokenizer_config.json and keeps it.
func (t *Tokenizer) setConfig(b []byte) error {
	var c configJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	tmpl, err := chatTemplate(c.ChatTemplate)
	if err != nil {
		return err
	}
	if tmpl != "" && (!strings.Contains(tmpl, IMStartToken) || !strings.Contains(tmpl, IMEndToken)) {
		return fmt.Errorf("%w: chat_template is not a ChatML template (%s role … %s); the trainer formats prompts only that way",
			ErrUnsupported, IMStartToken, IMEndToken)
	}
	if eos := tokenContent(c.EOSToken); eos != "" {
		if _, ok := t.TokenID(eos); !ok {
			return fmt.Errorf("%w: eos_token %q is not in the vocabulary", ErrFormat, eos)
		}
	}
	t.config = append([]byte(nil), b...)
	t.chatTemplate = tmpl
	return nil
}

// chatTemplate reads chat_template: a string, or (older files) a list of
// {"name", "template"} of which "default" is the one used; "" for none.
func chatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("%w: chat_template is neither a string nor a list of named templates", ErrFormat)
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", fmt.Errorf("%w: chat_template lists no \"default\" template", ErrFormat)
}

// tokenContent reads a special-token field: a string or an AddedToken
// object ({"content": …}); "" for none.
func tokenContent(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var a struct{ Content string }
	if json.Unmarshal(raw, &a) == nil {
		return a.Content
	}
	return ""
}

// ChatTemplate is the chat_template of the tokenizer_config.json LoadDir
// read ("" when there was none or it had none).
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// SaveDir writes the tokenizer into a Hugging Face model directory:
// tokenizer.json, and tokenizer_config.json — the one LoadDir read,
// unchanged, or else one that names the ChatML template, <|im_end|> as
// the end of a turn and <|endoftext|> as padding, so that transformers
// loads the directory with the chat format the trainer used.
func (t *Tokenizer) SaveDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := t.WriteFile(filepath.Join(dir, FileName)); err != nil {
		return err
	}
	cfg := t.config
	if cfg == nil {
		c := map[string]any{
			"tokenizer_class":              "Qwen2Tokenizer",
			"add_prefix_space":             false,
			"bos_token":                    nil,
			"clean_up_tokenization_spaces": false,
			"errors":                       "replace",
			"split_special_tokens":         false,
		}
		if t.IMStart >= 0 && t.IMEnd >= 0 {
			c["chat_template"] = ChatMLTemplate
			c["eos_token"] = IMEndToken
		}
		if t.EndOfText >= 0 {
			c["pad_token"] = EndOfTextToken
		}
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		cfg = append(b, '\n')
	}
	return os.WriteFile(filepath.Join(dir, ConfigFileName), cfg, 0o644)
}
