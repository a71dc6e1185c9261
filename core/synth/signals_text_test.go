package synth

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// WriteSignals: one row per environment, "-" for an unflagged one, and the
// next step only when some environment is flagged.
func TestWriteSignals(t *testing.T) {
	sigs := []EnvSignal{
		{Env: "adder", MinDifficulty: 1, MaxDifficulty: 5, Signal: SignalSaturated, Level: 5, Recent: 0.97, Curve: make([]CurvePoint, 3), Reason: "saturated"},
		{Env: "maze", MinDifficulty: 1, MaxDifficulty: 10, Level: 4, Recent: 0.4, Reason: "learning"},
	}
	var b bytes.Buffer
	WriteSignals(&b, 7, sigs)
	lines := strings.Split(b.String(), "\n")
	if f := strings.Fields(lines[1]); len(f) < 7 || f[0] != "adder" || f[1] != SignalSaturated || f[3] != "1-5" || f[4] != "0.97" || f[5] != "3" {
		t.Errorf("adder's row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 2 || f[0] != "maze" || f[1] != "-" {
		t.Errorf("maze's row: %q", lines[2])
	}
	if !strings.Contains(b.String(), "1 environment(s) flagged: `resyn synth --from-run 7`") {
		t.Errorf("no next step:\n%s", b.String())
	}
	b.Reset()
	WriteSignals(&b, 7, sigs[1:])
	if strings.Contains(b.String(), "flagged") {
		t.Errorf("nothing flagged, yet:\n%s", b.String())
	}
}

// The signal flags parse to TrainingSignals' defaults and refuse a window
// or saturation they cannot mean.
func TestSignalFlags(t *testing.T) {
	var o SignalOptions
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(nil); err != nil || o.Window != 10 || o.High != 0.9 || o.CheckFlags() != nil {
		t.Fatalf("defaults %+v (%v, %v)", o, err, o.CheckFlags())
	}
	for _, args := range [][]string{{"--signal-window", "0"}, {"--saturation", "0"}, {"--saturation", "1.5"}} {
		o = SignalOptions{}
		fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := o.CheckFlags(); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v", args, err)
		}
	}
}
