package tokenizer

// GPT-2's byte-level alphabet: every byte maps to a printable rune so that a
// token's bytes can be written as a JSON string. Printable Latin-1 bytes map
// to themselves; the other 68 map to U+0100 onwards in byte order.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// toByteLevel writes the byte-level form of raw bytes.
func toByteLevel(raw string) string {
	out := make([]rune, len(raw))
	for i := 0; i < len(raw); i++ {
		out[i] = byteToRune[raw[i]]
	}
	return string(out)
}

// fromByteLevel decodes a byte-level token string to raw bytes; ok is false
// when a rune is outside the alphabet.
func fromByteLevel(s string) (string, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := runeToByte[r]
		if !ok {
			return "", false
		}
		out = append(out, b)
	}
	return string(out), true
}
