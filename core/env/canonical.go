package env

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
)

// CanonicalState spells a state's JSON one way: object keys sorted, no
// insignificant space, numbers as the environment wrote them. Two
// instances are the same instance when their environments' names and
// canonical states are equal, whatever seeds or levels produced them.
func CanonicalState(state json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(state))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical state: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical state: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// InstanceHash is a 64-bit FNV-1a hash of an environment's name and an
// instance's canonical state (CanonicalState): the identity of an instance
// by content.
func InstanceHash(envName string, state json.RawMessage) (uint64, error) {
	c, err := CanonicalState(state)
	if err != nil {
		return 0, err
	}
	h := fnv.New64a()
	h.Write([]byte(envName))
	h.Write([]byte{0})
	h.Write(c)
	return h.Sum64(), nil
}
