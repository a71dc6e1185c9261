package synthload

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"resyn/core/env"
	"resyn/core/validate"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

var long = os.Getenv("RESYN_LONG") != ""

func testPool(t *testing.T) *env.Pool {
	t.Helper()
	lim := env.DefaultLimits()
	lim.Steps, lim.Timeout = 2_000_000, 20*time.Second
	p, err := env.NewPool(env.PoolOptions{Workers: 2, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func opts() validate.Options {
	return validate.Options{SeedsPerLevel: 3}
}

// Every template of the corpus makes valid environments, whatever the
// knobs and theme: the model's mistakes are the only failures of a load
// test. The fast suite checks one variant of each tuning template; the long
// suite three variants of every template, held-back ones included (their
// validity, not their use: no tuning looks at them).
func TestCorpusTemplatesAreValid(t *testing.T) {
	parts, per := []string{PartTuning}, 1
	if long {
		parts, per = []string{PartTuning, PartHeldBack}, 3
	}
	c, err := Load(parts...)
	if err != nil {
		t.Fatal(err)
	}
	p := testPool(t)
	m := &Model{Corpus: c, Rates: DefaultRates(), Seed: 1}
	for _, tp := range c.Templates {
		for i := 0; i < per; i++ {
			v := m.Variant(fmt.Sprintf("%s_%s_%04x", slug(Themes[i*7%len(Themes)].Thing), tp.ID, i))
			code := v.Code()
			rep := validate.File(context.Background(), p, v.Name+".star", []byte(code), opts())
			if !rep.OK {
				for _, ch := range rep.Failed() {
					t.Errorf("%s (knobs %v): %s: %s %v", v.Name, v.Knobs, ch.Name, ch.Detail, ch.Failures)
				}
			}
			if !strings.Contains(code, `NAME = "`+v.Name+`"`) || !strings.Contains(v.Description(), v.Theme.Things) && !strings.Contains(v.Description(), v.Theme.Who) {
				t.Errorf("%s: NAME or theme missing", v.Name)
			}
		}
	}
}

// Every mistake breaks validation on the module it is applied to, so each
// costs a repair round as the real ones do.
func TestMistakesFailValidation(t *testing.T) {
	c, err := Load(PartTuning)
	if err != nil {
		t.Fatal(err)
	}
	p := testPool(t)
	m := &Model{Corpus: c, Rates: DefaultRates(), Seed: 1}
	for i, mk := range Mistakes {
		tp := c.Templates[i%len(c.Templates)]
		v := m.Variant(fmt.Sprintf("crate_%s_%04x", tp.ID, i))
		code, ok := mk.Apply(v.Code(), m.rng(i))
		if !ok {
			t.Errorf("%s: not applicable to %s", mk.Name, tp.ID)
			continue
		}
		if rep := validate.File(context.Background(), p, v.Name+".star", []byte(code), opts()); rep.OK && mk.Name != "wrong NAME" {
			t.Errorf("%s on %s passes validation", mk.Name, tp.ID)
		}
	}
}

// The corpus's parts are disjoint by content: no template of one is a
// template of the other.
func TestCorpusPartsAreDisjoint(t *testing.T) {
	tun, err := Load(PartTuning)
	if err != nil {
		t.Fatal(err)
	}
	held, err := Load(PartHeldBack)
	if err != nil {
		t.Fatal(err)
	}
	if len(tun.Templates) < 15 || len(held.Templates) < 8 {
		t.Fatalf("%d tuning and %d held-back templates", len(tun.Templates), len(held.Templates))
	}
	m := &Model{Corpus: tun, Rates: DefaultRates()}
	for _, h := range held.Templates {
		if tun.ByID(h.ID) != nil {
			t.Errorf("%s is in both parts", h.ID)
		}
		hv := (&Model{Corpus: held}).Variant("crate_" + h.ID + "_0000")
		for _, tp := range tun.Templates {
			tv := m.Variant("crate_" + tp.ID + "_0000")
			if body(hv.Code()) == body(tv.Code()) {
				t.Errorf("%s and %s have the same code", h.ID, tp.ID)
			}
		}
	}
}

// body is a module's code without its NAME line.
func body(code string) string { return nameRe.ReplaceAllString(code, "") }
