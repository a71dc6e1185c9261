package tokenizer

import (
	"fmt"
	"strings"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// DefaultSystemQwen25 is the system prompt Qwen2.5-Instruct's template
// inserts when a conversation has none. FormatChat inserts nothing; callers
// that want to match that template exactly prepend it.
const DefaultSystemQwen25 = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

// FormatChat renders messages in the Qwen chat format (ChatML):
//
//	<|im_start|>system\n…<|im_end|>\n<|im_start|>user\n…<|im_end|>\n
//
// and, with addGenerationPrompt, "<|im_start|>assistant\n" for the model
// to continue.
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

// EncodeChat tokenizes the same text as Encode(FormatChat(msgs, …)), except
// that message contents go through EncodeOrdinary: a prompt or completion
// that contains "<|im_end|>" cannot close its turn early. It needs the
// <|im_start|> and <|im_end|> tokens.
func (t *Tokenizer) EncodeChat(msgs []Message, addGenerationPrompt bool) ([]int, error) {
	if t.IMStart < 0 || t.IMEnd < 0 {
		return nil, fmt.Errorf("%w: the chat format needs %s and %s, which this vocabulary lacks",
			ErrUnsupported, IMStartToken, IMEndToken)
	}
	var ids []int
	for _, m := range msgs {
		ids = append(ids, t.IMStart)
		// "role\ncontent" as one run: the newline may merge with the
		// content's first characters exactly as in the formatted text.
		ids = t.appendOrdinary(ids, strings.ToValidUTF8(m.Role+"\n"+m.Content, "\uFFFD"))
		ids = append(ids, t.IMEnd)
		ids = t.appendOrdinary(ids, "\n")
	}
	if addGenerationPrompt {
		ids = append(ids, t.IMStart)
		ids = t.appendOrdinary(ids, "assistant\n")
	}
	return ids, nil
}
