package tokenizer

import (
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// DefaultSystemQwen25 is the system prompt Qwen2.5-Instruct's template
// inserts when a conversation has none (the template itself does so when
// it renders a conversation without a system message).
const DefaultSystemQwen25 = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

// FormatChat renders messages in the Qwen chat format (ChatML), the format
// of ChatMLTemplate:
//
//	<|im_start|>system\n…<|im_end|>\n<|im_start|>user\n…<|im_end|>\n
//
// and, with addGenerationPrompt, "<|im_start|>assistant\n" for the model
// to continue. A tokenizer with a chat template of its own renders with
// that instead (RenderChat).
func FormatChat(msgs []Message, addGenerationPrompt bool) string {
	var sb strings.Builder
	for _, m := range msgs {
		sb.WriteString(IMStartToken)
		sb.WriteString(m.Role)
		sb.WriteByte('\n')
		sb.WriteString(m.Content)
		sb.WriteString(IMEndToken)
		sb.WriteByte('\n')
	}
	if addGenerationPrompt {
		sb.WriteString(IMStartToken + "assistant\n")
	}
	return sb.String()
}

// chatTemplate is a compiled Jinja chat template with the variables
// transformers passes beside the messages: the special tokens of
// tokenizer_config.json (bos_token, eos_token, pad_token, unk_token).
//
// The template runs on github.com/ardanlabs/jinja, a Jinja engine written
// for LLM chat templates: trim_blocks and lstrip_blocks as transformers
// sets them, the loopcontrols extension, namespace, raise_exception,
// strftime_now and a tojson that writes what transformers' does
// (ensure_ascii=False). testdata/chat holds renderings by Python's jinja2
// that it is checked against byte for byte.
type chatTemplate struct {
	src  string
	tmpl *jinja.Template
	vars map[string]string
}

func compileChatTemplate(src string, vars map[string]string) (*chatTemplate, error) {
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChatTemplate, err)
	}
	return &chatTemplate{src: src, tmpl: t, vars: vars}, nil
}

func (c *chatTemplate) render(msgs []Message, addGenerationPrompt bool) (string, error) {
	return c.renderWith(msgs, addGenerationPrompt, nil)
}

// renderWith renders with more variables (enable_thinking, …) beside the
// messages and the special tokens.
func (c *chatTemplate) renderWith(msgs []Message, addGenerationPrompt bool, extra map[string]any) (string, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{"messages": list, "add_generation_prompt": addGenerationPrompt}
	for k, v := range c.vars {
		data[k] = v
	}
	for k, v := range extra {
		data[k] = v
	}
	out, err := c.tmpl.Render(data)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrChatTemplate, err)
	}
	return out, nil
}

// RenderChat renders a conversation as the model's chat template does
// (transformers' apply_chat_template with tokenize=False): the template of
// the tokenizer_config.json or chat_template.jinja LoadDir read, or, for a
// tokenizer without one, the ChatML format of FormatChat. Message contents
// are made valid UTF-8 first, as Encode would.
func (t *Tokenizer) RenderChat(msgs []Message, addGenerationPrompt bool) (string, error) {
	msgs = validMessages(msgs)
	if t.chat == nil {
		if t.IMStart < 0 || t.IMEnd < 0 {
			return "", fmt.Errorf("%w: the tokenizer has no chat template and its vocabulary lacks %s and %s for the ChatML format",
				ErrUnsupported, IMStartToken, IMEndToken)
		}
		return FormatChat(msgs, addGenerationPrompt), nil
	}
	return t.chat.render(msgs, addGenerationPrompt)
}

func validMessages(msgs []Message) []Message {
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{Role: strings.ToValidUTF8(m.Role, "\uFFFD"), Content: strings.ToValidUTF8(m.Content, "\uFFFD")}
	}
	return out
}

// EncodeChat tokenizes RenderChat's text as Hugging Face's
// apply_chat_template(tokenize=True) does — added and special tokens the
// template writes become their ids, the rest is BPE over the same runs —
// with one difference: text inside the content of a system, user or tool
// message never becomes a control token, so a prompt that contains
// "<|im_end|>" cannot close its turn early. (Hugging Face would turn it
// into the token.) An assistant message is the model's own text, whose
// <think> and other added tokens are tokens, as Hugging Face has them.
//
// That needs the content's place in the rendered text. Each such content
// is looked for verbatim, in order, after the previous one; a template
// that changes a content holding an added token's text (strips or splits
// it) cannot be tokenized safely, and is an ErrChatTemplate.
func (t *Tokenizer) EncodeChat(msgs []Message, addGenerationPrompt bool) ([]int, error) {
	msgs = validMessages(msgs)
	text, err := t.RenderChat(msgs, addGenerationPrompt)
	if err != nil {
		return nil, err
	}
	var protect []span
	at := 0
	for i, m := range msgs {
		if m.Content == "" || m.Role == "assistant" {
			continue
		}
		k := strings.Index(text[at:], m.Content)
		if k < 0 {
			if t.holdsAddedToken(m.Content) {
				return nil, fmt.Errorf("%w: message %d (%s) holds the text of a special token, and the chat template changes its content, so it cannot be kept from acting as one",
					ErrChatTemplate, i, m.Role)
			}
			continue
		}
		// Every content found is protected: an added token that starts or
		// ends inside it (content ending in "<|im_" before the template's
		// "end|>") is not one either.
		s := span{at + k, at + k + len(m.Content)}
		protect = append(protect, s)
		at = s.end
	}
	return t.appendEncode(nil, text, protect), nil
}

// holdsAddedToken says whether s contains the text of an added token.
func (t *Tokenizer) holdsAddedToken(s string) bool {
	for i := 0; i < len(s); i++ {
		for _, k := range t.addedFirst[s[i]] {
			if strings.HasPrefix(s[i:], t.added[k].Content) {
				return true
			}
		}
	}
	return false
}

// StopTokens are the ids that end the model's turn: the eos_token of
// tokenizer_config.json (Qwen2.5-Instruct: <|im_end|>; DeepSeek-R1-Distill:
// <｜end▁of▁sentence｜>), then <|im_end|> and <|endoftext|> when the
// vocabulary has them; each once. The first is the one a turn ends with.
func (t *Tokenizer) StopTokens() []int {
	var ids []int
	add := func(id int) {
		if id < 0 {
			return
		}
		for _, x := range ids {
			if x == id {
				return
			}
		}
		ids = append(ids, id)
	}
	add(t.eos)
	add(t.IMEnd)
	add(t.EndOfText)
	return ids
}
