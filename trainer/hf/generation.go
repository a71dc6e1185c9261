package hf

import (
	"encoding/json"
	"fmt"
)

// GenerationConfigFile is the file transformers' GenerationConfig is saved
// in, beside config.json.
const GenerationConfigFile = "generation_config.json"

// GenerationConfig is a generation_config.json. The trainer reads the
// token ids (its eos_token_id is often a list: Qwen2.5-Instruct stops at
// <|im_end|> or <|endoftext|>); the sampling defaults and everything else
// are kept in Extra and written back unchanged.
type GenerationConfig struct {
	BOSTokenID *int
	EOSTokenID TokenIDs
	PadTokenID *int
	Extra      map[string]json.RawMessage
}

var knownGeneration = []string{"bos_token_id", "eos_token_id", "pad_token_id"}

// UnmarshalJSON reads the token ids (an int or a list for eos_token_id)
// and keeps the rest.
func (g *GenerationConfig) UnmarshalJSON(b []byte) error {
	f, err := readObject(GenerationConfigFile, b)
	if err != nil {
		return err
	}
	*g = GenerationConfig{}
	for _, x := range []struct {
		name string
		dst  **int
	}{{"bos_token_id", &g.BOSTokenID}, {"pad_token_id", &g.PadTokenID}} {
		var v int
		if ok, err := f.int(x.name, &v); err != nil {
			return err
		} else if ok {
			*x.dst = &v
		}
	}
	if err := f.tokenIDs("eos_token_id", &g.EOSTokenID); err != nil {
		return err
	}
	g.Extra = f.unknown(knownGeneration)
	return nil
}

// MarshalJSON writes the token ids as read and Extra, keys sorted.
func (g GenerationConfig) MarshalJSON() ([]byte, error) {
	all := withExtra(g.Extra, knownGeneration)
	if g.BOSTokenID != nil {
		all["bos_token_id"] = *g.BOSTokenID
	}
	if g.PadTokenID != nil {
		all["pad_token_id"] = *g.PadTokenID
	}
	if eos, ok := g.EOSTokenID.json(); ok {
		all["eos_token_id"] = eos
	}
	return json.Marshal(all)
}

// validate checks that the ids are in a vocabulary of the given size.
func (g GenerationConfig) validate(vocab int) error {
	check := func(field string, id int) error {
		if id < 0 || id >= vocab {
			return &FieldError{File: GenerationConfigFile, Field: field, Value: fmt.Sprint(id),
				Why: fmt.Sprintf("is outside the vocabulary [0, %d) of config.json", vocab)}
		}
		return nil
	}
	for _, p := range []struct {
		name string
		id   *int
	}{{"bos_token_id", g.BOSTokenID}, {"pad_token_id", g.PadTokenID}} {
		if p.id != nil {
			if err := check(p.name, *p.id); err != nil {
				return err
			}
		}
	}
	for _, id := range g.EOSTokenID.IDs {
		if err := check("eos_token_id", id); err != nil {
			return err
		}
	}
	return nil
}
