package library

import (
	"resyn/core/env"
)

// Info is what a module says about itself in its top-level constants.
type Info = env.Meta

// StaticInfo reads NAME, DESCRIPTION, TAGS and DIFFICULTY from the syntax
// tree of src, without running it: only literal values count (a computed
// NAME is reported as missing). DIFFICULTY defaults to (1, 10) as in the
// contract. The contract requires these to be literals bound once
// (env.StaticMeta), so for any module that loads this is what the sandbox
// runs; for one that does not, the values are bounded all the same.
func StaticInfo(file string, src []byte) (Info, error) {
	return env.StaticMeta(file, src)
}
