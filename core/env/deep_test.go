package env

import (
	"context"
	"testing"
)

// Honest recursion (a depth-first search over thousands of nodes) must fit
// under the worker's stack cap.
func TestPoolAllowsDeepHonestRecursion(t *testing.T) {
	p := newTestPool(t, 1)
	m, err := p.Load(context.Background(), "deep.star", []byte(hostile(
		"def down(k):\n        if k == 0:\n            return 0\n        return 1 + down(k - 1)\n    return {\"n\": down(5000)}", "", "")))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Run(context.Background(), []Task{{Env: m.Name, Seed: 1, Difficulty: 1, Render: true}})[0]
	if r.Err != nil || string(r.State) != `{"n":5000}` {
		t.Fatalf("depth 5000 recursion failed: %+v", r)
	}
}
