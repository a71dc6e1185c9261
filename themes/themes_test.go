package themes

import (
	"errors"
	"strings"
	"testing"
)

func TestByName(t *testing.T) {
	for _, n := range []string{"dark", "light", "high-contrast", "none", ""} {
		th, err := ByName(n)
		if err != nil {
			t.Fatalf("ByName(%q): %v", n, err)
		}
		s := NewStyles(th)
		if s.Theme.Name != th.Name {
			t.Errorf("NewStyles(%q) kept theme %q", n, s.Theme.Name)
		}
		if len(th.Series) == 0 {
			t.Errorf("theme %q has no chart series colours", th.Name)
		}
	}
	if _, err := ByName("neon"); !errors.Is(err, ErrUnknownTheme) {
		t.Errorf("ByName(neon) = %v, want ErrUnknownTheme", err)
	}
}

func TestNoColorWins(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	th, err := Select("dark")
	if err != nil || th.Name != NoColor.Name {
		t.Fatalf("Select(dark) under NO_COLOR = %q, %v; want the colourless theme", th.Name, err)
	}
	t.Setenv("NO_COLOR", "")
	if th, _ := Select("light"); th.Name != "light" {
		t.Fatalf("Select(light) with NO_COLOR empty = %q", th.Name)
	}
}

// TestResolve: the flag wins over $RESYN_THEME, and an unknown name's
// error says which of the two it came from.
func TestResolve(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("RESYN_THEME", "light")
	if th, err := Resolve(""); err != nil || th.Name != Light.Name {
		t.Errorf("from $RESYN_THEME: %v, %v", th.Name, err)
	}
	if th, err := Resolve("high-contrast"); err != nil || th.Name != HighContrast.Name {
		t.Errorf("from the flag: %v, %v", th.Name, err)
	}
	if _, err := Resolve("neon"); err == nil || !strings.HasPrefix(err.Error(), "--theme: unknown theme \"neon\"") {
		t.Errorf("a bad flag: %v", err)
	}
	t.Setenv("RESYN_THEME", "neon")
	if _, err := Resolve(""); err == nil || !strings.HasPrefix(err.Error(), "$RESYN_THEME: unknown theme \"neon\"") || !errors.Is(err, ErrUnknownTheme) {
		t.Errorf("a bad $RESYN_THEME: %v", err)
	}
}
