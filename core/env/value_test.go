package env

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// refToJSON is the first, straightforward toJSON (a path string built for
// every value, json.Marshal for every string). toJSON must write the same
// bytes and the same errors.
func refToJSON(v starlark.Value, max int) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := refWrite(&buf, v, "state", 0, max); err != nil {
		return nil, err
	}
	if buf.Len() > max {
		return nil, &sizeError{max}
	}
	return json.RawMessage(buf.Bytes()), nil
}

func refWrite(buf *bytes.Buffer, v starlark.Value, path string, depth, max int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: nested more than %d levels deep", path, maxDepth)
	}
	if buf.Len() > max {
		return &sizeError{max}
	}
	switch x := v.(type) {
	case starlark.NoneType:
		buf.WriteString("null")
	case starlark.Bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case starlark.Int:
		buf.WriteString(x.String())
	case starlark.Float:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %v is not representable in JSON", path, f)
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			s += ".0"
		}
		buf.WriteString(s)
	case starlark.String:
		b, _ := json.Marshal(string(x))
		buf.Write(b)
	case *starlark.List:
		return refSeq(buf, x, path, depth, max)
	case starlark.Tuple:
		return refSeq(buf, x, path, depth, max)
	case *starlark.Dict:
		buf.WriteByte('{')
		for i, item := range x.Items() {
			k, ok := item[0].(starlark.String)
			if !ok {
				return fmt.Errorf("%s: dict key %s is a %s; state dict keys must be strings (JSON objects)", path, item[0].String(), item[0].Type())
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			b, _ := json.Marshal(string(k))
			buf.Write(b)
			buf.WriteByte(':')
			if err := refWrite(buf, item[1], path+"["+strconv.Quote(string(k))+"]", depth+1, max); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("%s: a %s is not JSON-like (use dicts with string keys, lists, str, int, float, bool, None)", path, v.Type())
	}
	return nil
}

func refSeq(buf *bytes.Buffer, seq starlark.Indexable, path string, depth, max int) error {
	buf.WriteByte('[')
	for i := 0; i < seq.Len(); i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := refWrite(buf, seq.Index(i), path+"["+strconv.Itoa(i)+"]", depth+1, max); err != nil {
			return err
		}
	}
	buf.WriteByte(']')
	return nil
}

// randomValue builds a random Starlark value, JSON-like or (rarely) not.
func randomValue(r *rand.Rand, depth int) starlark.Value {
	strs := []string{"", "a", "plain words", "quote\"s", `back\slash`, "<html>&amp;", "tab\tnew\nline", "\x00\x1f",
		"é ü ß", "¬x3 ∨ x4", "line\u2028sep\u2029", "bad\xffutf8", "\xe2\x82", "emoji 🎲", "x\x7f"}
	switch k := r.IntN(12); {
	case depth > 4 || k < 6:
		switch r.IntN(9) {
		case 0:
			return starlark.None
		case 1:
			return starlark.Bool(r.IntN(2) == 0)
		case 2:
			return starlark.MakeInt64(r.Int64N(1<<40) - 1<<39)
		case 3:
			b, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
			return starlark.MakeBigInt(b)
		case 4:
			return starlark.Float([]float64{0, math.Copysign(0, -1), 1, -3, 2.5, 1e21, 1e-7, 123456789, math.MaxFloat64, 5e-324}[r.IntN(10)])
		case 5:
			if r.IntN(20) == 0 {
				return starlark.Float(math.NaN())
			}
			return starlark.Float(r.Float64() * 1000)
		default:
			return starlark.String(strs[r.IntN(len(strs))])
		}
	case k < 8:
		n := r.IntN(5)
		xs := make([]starlark.Value, n)
		for i := range xs {
			xs[i] = randomValue(r, depth+1)
		}
		if r.IntN(3) == 0 {
			return starlark.Tuple(xs)
		}
		return starlark.NewList(xs)
	case k < 11:
		d := starlark.NewDict(4)
		for i := r.IntN(5); i > 0; i-- {
			var key starlark.Value = starlark.String(strs[r.IntN(len(strs))])
			if r.IntN(40) == 0 {
				key = starlark.MakeInt(i)
			}
			d.SetKey(key, randomValue(r, depth+1))
		}
		return d
	default:
		if r.IntN(4) == 0 {
			return starlark.NewSet(1)
		}
		return starlark.String(strings.Repeat("long ", r.IntN(50)))
	}
}

func TestToJSONMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	errs := 0
	for i := 0; i < 20000; i++ {
		v := randomValue(r, 0)
		max := 1 << 20
		if i%7 == 0 {
			max = r.IntN(200)
		}
		got, err1 := toJSON(v, max)
		want, err2 := refToJSON(v, max)
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("%s: error %v, reference %v", v, err1, err2)
		}
		if err1 != nil {
			errs++
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", v, got, want)
		}
		// Decoding gives back the same JSON value (the bytes may differ
		// only where an invalid UTF-8 byte became U+FFFD).
		back, err := fromJSON(got)
		if err != nil {
			t.Fatalf("decode %s: %v", got, err)
		}
		again, err := toJSON(back, 1<<20)
		var x, y any
		if err != nil || json.Unmarshal(got, &x) != nil || json.Unmarshal(again, &y) != nil || !reflect.DeepEqual(x, y) {
			t.Fatalf("round trip of %s gave %s (%v)", got, again, err)
		}
	}
	if errs == 0 || errs > 15000 {
		t.Fatalf("%d errors out of 20000: the generator does not cover both paths", errs)
	}
	// Deep nesting fails the same way too.
	var deep starlark.Value = starlark.None
	for i := 0; i < maxDepth+5; i++ {
		deep = starlark.NewList([]starlark.Value{deep})
	}
	_, err1 := toJSON(deep, 1<<20)
	_, err2 := refToJSON(deep, 1<<20)
	if err1 == nil || err1.Error() != err2.Error() {
		t.Fatalf("deep: %v, reference %v", err1, err2)
	}
}

func TestSmallIntMatchesParseInt(t *testing.T) {
	for _, s := range []string{"0", "-0", "7", "007", "-12", "123456789012345678", "-123456789012345678",
		"1234567890123456789", "-", "", "+5", "1-2", "--1", "9e3", "1.5"} {
		got, ok := smallInt([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		if ok && (err != nil || got != want) {
			t.Errorf("smallInt(%q) = %d, ParseInt gives %d, %v", s, got, want, err)
		}
	}
	// And the decoder as a whole still reads what it read before.
	v, err := fromJSON([]byte(`[0,-0,7,-12,123456789012345678,1234567890123456789,-99999999999999999999,1.5,-2e3]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != "[0, 0, 7, -12, 123456789012345678, 1234567890123456789, -99999999999999999999, 1.5, -2000.0]" {
		t.Fatalf("decoded %s", got)
	}
}

// stateSample is shaped like the built-ins' states: nested lists of ints,
// short strings, a few dicts.
const stateSample = `{"n":12,"k":4,"edges":[[0,3],[0,7],[1,2],[1,9],[2,5],[2,11],[3,4],[3,8],[4,10],[5,6],[5,9],[6,7],[6,11],[7,10],[8,9],[9,10]],` +
	`"names":[["red","green","blue","white"],["dog","cat","bird","fish"]],"clues":[["same",1,5,0],["left_of",2,7,0],["at",3,3,2],["not_same",0,6,0]],` +
	`"rows":["#########","#S..#...#","#.#.#.#.#","#.#...#G#","#########"],"planted":[1,2,3,1,2,3,4,1,2,3,4,1],"best":17.5}`

// BenchmarkStateJSON times the state's trip through JSON (encode after
// generate, decode before each of render and verify) against the first
// encoder, in one run.
func BenchmarkStateJSON(b *testing.B) {
	v, err := fromJSON([]byte(stateSample))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			toJSON(v, 1<<20)
		}
	})
	b.Run("encode-reference", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			refToJSON(v, 1<<20)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fromJSON([]byte(stateSample))
		}
	})
}
