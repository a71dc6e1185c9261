package storage

import (
	"math"
	"reflect"
	"testing"
)

func TestMigrationTableMatchesSchemaVersion(t *testing.T) {
	if len(migrations) != SchemaVersion {
		t.Fatalf("%d migrations but SchemaVersion %d", len(migrations), SchemaVersion)
	}
}

func TestMetricCodecRoundTrip(t *testing.T) {
	for _, p := range []MetricPoint{
		{Step: 0, Name: "loss", Value: 1.5},
		{Step: 1 << 40, Name: "reward/mean", Value: math.NaN()},
		{Step: 7, Name: "pass", Value: math.Inf(-1), PerEnv: map[string]float64{"a": 0.25, "graph_coloring": 1}},
	} {
		k := metricKey(p.Step, p.Name)
		v := appendMetricValue(nil, &p)
		got, err := decodeMetric(k, v)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if got.Step != p.Step || got.Name != p.Name || math.Float64bits(got.Value) != math.Float64bits(p.Value) || !reflect.DeepEqual(got.PerEnv, p.PerEnv) {
			t.Errorf("round trip: got %+v, want %+v", got, p)
		}
		// Every truncation of a valid value is an error, never a panic.
		for i := 0; i < len(v); i++ {
			if _, err := decodeMetric(k, v[:i]); err == nil {
				t.Errorf("%+v truncated to %d bytes decoded without error", p, i)
			}
		}
	}
}

func FuzzDecodeMetric(f *testing.F) {
	p := MetricPoint{Step: 3, Name: "x", Value: 2, PerEnv: map[string]float64{"e": 1}}
	f.Add(metricKey(3, "x"), appendMetricValue(nil, &p))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		decodeMetric(k, v)
	})
}
