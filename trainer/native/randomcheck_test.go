package native

import (
	"reflect"
	"testing"
)

// RandomLogitsCheck: sequences of len, len/2, len/4 (at least 2) tokens and
// the first and last vocabulary ids first, all in range and the same for the
// same seed; another seed draws other tokens.
func TestRandomLogitsCheck(t *testing.T) {
	m := newTiny(t, tinyConfig(false), 1)
	lc, err := m.RandomLogitsCheck(3, 16, 5, 7, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Validate(); err != nil {
		t.Fatal(err)
	}
	var lens []int
	for _, s := range lc.Sequences {
		lens = append(lens, len(s.InputIDs))
		for _, id := range s.InputIDs {
			if id < 0 || id >= 37 {
				t.Fatalf("token %d outside the vocabulary", id)
			}
		}
	}
	if !reflect.DeepEqual(lens, []int{16, 8, 4}) {
		t.Errorf("sequence lengths %v, want [16 8 4]", lens)
	}
	if ids := lc.Sequences[0].LogitIDs; len(ids) != 5 || ids[0] != 0 || ids[1] != 36 {
		t.Errorf("logit ids %v, want 5 starting 0, 36", ids)
	}
	again, _ := m.RandomLogitsCheck(3, 16, 5, 7, 1e-3)
	if !reflect.DeepEqual(again.Sequences[0].InputIDs, lc.Sequences[0].InputIDs) {
		t.Error("the same seed drew other tokens")
	}
	other, _ := m.RandomLogitsCheck(3, 16, 5, 8, 1e-3)
	if reflect.DeepEqual(other.Sequences[0].InputIDs, lc.Sequences[0].InputIDs) {
		t.Error("another seed drew the same tokens")
	}
	if _, err := m.RandomLogitsCheck(0, 16, 5, 7, 1e-3); err == nil {
		t.Error("no sequences: no error")
	}
}
