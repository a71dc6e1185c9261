package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The files of a Hugging Face model directory that hold its tokenizer.
// Recent transformers save the chat template in its own file,
// chat_template.jinja, instead of tokenizer_config.json's chat_template;
// when there is one it is the template (as transformers reads it).
const (
	FileName         = "tokenizer.json"
	ConfigFileName   = "tokenizer_config.json"
	TemplateFileName = "chat_template.jinja"
)

// maxTemplateBytes bounds a chat template (real ones are a few kilobytes;
// the longest, with tool grammars, some tens).
const maxTemplateBytes = 1 << 20

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
// tokenizer.json, and tokenizer_config.json and chat_template.jinja when
// there are. The config is kept as it is (SaveDir writes it back
// unchanged); its chat template — any Jinja template, not only ChatML — is
// compiled at once, so that one that does not compile is an error naming
// the file, and its eos_token must be a token of the vocabulary.
//
// A template is the model's own file, trusted like its weights: rendering
// has no step or memory limit of its own (jinja2's sandbox caps range() at
// 100,000 items; the Go engine does not).
func LoadDir(dir string) (*Tokenizer, error) {
	t, err := Load(filepath.Join(dir, FileName))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ConfigFileName)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	tpath := filepath.Join(dir, TemplateFileName)
	tb, terr := readTemplateFile(tpath)
	if terr != nil && !errors.Is(terr, os.ErrNotExist) {
		return nil, terr
	}
	if b == nil && tb == nil {
		return t, nil
	}
	if b == nil {
		b = []byte("{}")
	}
	if err := t.setConfig(b, tb); err != nil {
		if tb != nil && errors.Is(err, ErrChatTemplate) {
			return nil, fmt.Errorf("%s: %w", tpath, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, statErr := os.Stat(path); statErr != nil {
		t.config = nil // no tokenizer_config.json: SaveDir writes its own
	}
	return t, nil
}

func readTemplateFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxTemplateBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d a chat template may take", ErrChatTemplate, path, st.Size(), maxTemplateBytes)
	}
	return os.ReadFile(path)
}

// configJSON is what the trainer reads from tokenizer_config.json.
type configJSON struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOSToken     json.RawMessage `json:"bos_token"`
	EOSToken     json.RawMessage `json:"eos_token"`
	PadToken     json.RawMessage `json:"pad_token"`
	UnkToken     json.RawMessage `json:"unk_token"`
}

// setConfig checks a tokenizer_config.json (and the chat_template.jinja
// beside it, nil for none) and keeps them: the template compiled with the
// special tokens as its variables.
func (t *Tokenizer) setConfig(b, templateFile []byte) error {
	var c configJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	tmpl, err := chatTemplateField(c.ChatTemplate)
	if err != nil {
		return err
	}
	if templateFile != nil {
		tmpl = string(templateFile)
	}
	if len(tmpl) > maxTemplateBytes {
		return fmt.Errorf("%w: chat_template is %d bytes, more than the %d a chat template may take", ErrChatTemplate, len(tmpl), maxTemplateBytes)
	}
	vars := map[string]string{}
	for name, raw := range map[string]json.RawMessage{"bos_token": c.BOSToken, "eos_token": c.EOSToken, "pad_token": c.PadToken, "unk_token": c.UnkToken} {
		tok := tokenContent(raw)
		if tok == "" {
			continue
		}
		// The end of a turn must be a token; the others only reach the
		// template as text, as transformers passes them.
		if _, ok := t.TokenID(tok); !ok && name == "eos_token" {
			return fmt.Errorf("%w: %s %q is not in the vocabulary", ErrFormat, name, tok)
		}
		vars[name] = tok
	}
	var compiled *chatTemplate
	if tmpl != "" {
		if compiled, err = compileChatTemplate(tmpl, vars); err != nil {
			return err
		}
	}
	t.config = append([]byte(nil), b...)
	t.chatTemplate, t.chat, t.templateFile = tmpl, compiled, templateFile != nil
	if id, ok := t.TokenID(vars["eos_token"]); ok {
		t.eos = id
	}
	return nil
}

// chatTemplateField reads chat_template: a string, or (older files) a list of
// {"name", "template"} of which "default" is the one used; "" for none.
func chatTemplateField(raw json.RawMessage) (string, error) {
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

// ChatTemplate is the chat template LoadDir read, from chat_template.jinja
// or tokenizer_config.json ("" when there was none).
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// SaveDir writes the tokenizer into a Hugging Face model directory:
// tokenizer.json, and tokenizer_config.json — the one LoadDir read,
// unchanged, or else one that names the ChatML template, <|im_end|> as
// the end of a turn and <|endoftext|> as padding, so that transformers
// loads the directory with the chat format the trainer used — and
// chat_template.jinja when the template came from one.
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
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), cfg, 0o644); err != nil {
		return err
	}
	if t.templateFile {
		return os.WriteFile(filepath.Join(dir, TemplateFileName), []byte(t.chatTemplate), 0o644)
	}
	return nil
}
