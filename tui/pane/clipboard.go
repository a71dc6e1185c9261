package pane

import (
	"errors"
	"fmt"
	"io"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
)

// ClipboardWarnBytes is the size past which a copy is said to be at risk:
// several terminals drop OSC 52 payloads of more than about 100 kB.
const ClipboardWarnBytes = 74_994 // xterm's default limit, as base64

// errNoTerminal: the workbench has no terminal to send OSC 52 to.
var errNoTerminal = errors.New("copy: no terminal to send the clipboard sequence to")

// CopyCmd puts text on the clipboard of the terminal the user sits at with
// an OSC 52 sequence, which travels over SSH and (with tmux's set-clipboard
// on, or allow-passthrough) through tmux. what names it on the status bar.
func (c *Context) CopyCmd(what, text string) tea.Cmd {
	w, tmux := c.Terminal, c.Tmux
	if w == nil {
		return Err(errNoTerminal)
	}
	if text == "" {
		return Info("nothing to copy: the " + what + " is empty")
	}
	return func() tea.Msg {
		if err := writeOSC52(w, text, tmux); err != nil {
			return ErrMsg{fmt.Errorf("copying the %s: %w", what, err)}
		}
		msg := fmt.Sprintf("copied the %s (%d bytes) to the clipboard", what, len(text))
		if n := len(text); n*4/3 > ClipboardWarnBytes {
			msg += "; some terminals drop copies this large"
		}
		return InfoMsg{msg}
	}
}

// writeOSC52 writes the plain sequence and, inside tmux, the same wrapped
// for tmux's passthrough: tmux keeps the first when set-clipboard is on
// (and forwards it to the outer terminal), the outer terminal gets the
// second when allow-passthrough is on, and each is ignored otherwise.
func writeOSC52(w io.Writer, text string, tmux bool) error {
	if _, err := osc52.New(text).WriteTo(w); err != nil {
		return err
	}
	if tmux {
		if _, err := osc52.New(text).Tmux().WriteTo(w); err != nil {
			return err
		}
	}
	return nil
}
