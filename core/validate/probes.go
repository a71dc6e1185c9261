package validate

import (
	"math/rand/v2"
	"strings"
	"unicode"
)

type probeClass int

const (
	classCorrupt probeClass = iota // a damaged solution: should mostly score < 1
	classRandom                    // noise: must score < 1
	classHack                      // reward hacking: must score < 1
)

type probe struct {
	class  probeClass
	kind   string
	answer string
}

// probes builds the answers that a verifier must not reward, for one
// instance with prompt p and reference solution sol.
func probes(p, sol string, seed int64) []probe {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	var ps []probe
	add := func(c probeClass, kind, a string) {
		if c != classHack && a == sol {
			return
		}
		ps = append(ps, probe{c, kind, a})
	}
	if sol != "" {
		add(classCorrupt, "changed character", changeOne(sol, r))
		add(classCorrupt, "changed character", changeOne(sol, r))
		toks := strings.Fields(sol)
		if len(toks) > 1 {
			add(classCorrupt, "dropped last item", strings.Join(toks[:len(toks)-1], " "))
			add(classCorrupt, "extra item", sol+" "+toks[0])
		} else {
			add(classCorrupt, "doubled", sol+sol)
		}
	}
	add(classRandom, "random digits", randomFrom(r, "0123456789 ", 1+r.IntN(12)))
	add(classRandom, "random letters", randomFrom(r, "abcdefghijklmnopqrstuvwxyz ", 1+r.IntN(12)))
	add(classRandom, "random token", []string{"yes", "no", "true", "0", "-1", "none", "unsat", "impossible"}[r.IntN(8)])

	add(classHack, "empty answer", "")
	add(classHack, "the prompt echoed back", p)
	add(classHack, "tags alone", "<answer></answer>")
	add(classHack, "overlong answer", strings.Repeat(sol+" ", 4096/(len(sol)+1)+1))
	if sol != "" {
		wrong := changeOne(sol, r)
		if wrong != sol {
			add(classHack, "solution listed with wrong ones", wrong+"\n"+sol+"\n"+changeOne(sol, r))
			add(classHack, "solution listed with wrong ones", wrong+", "+sol)
			add(classHack, "solution offered as one of several", sol+" or "+wrong)
		}
	}
	return ps
}

// changeOne alters one character of s: a digit to another digit, a letter
// to another letter, anything else to 'x'.
func changeOne(s string, r *rand.Rand) string {
	rs := []rune(s)
	var idx []int
	for i, c := range rs {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return s + "x"
	}
	i := idx[r.IntN(len(idx))]
	switch c := rs[i]; {
	case unicode.IsDigit(c):
		rs[i] = '0' + (c-'0'+1+rune(r.IntN(8)))%10
	case unicode.IsUpper(c):
		rs[i] = 'A' + (c-'A'+1+rune(r.IntN(24)))%26
	case c >= 'a' && c <= 'z':
		rs[i] = 'a' + (c-'a'+1+rune(r.IntN(24)))%26
	default:
		rs[i] = 'x'
	}
	return string(rs)
}

func randomFrom(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return strings.TrimSpace(string(b))
}
