package servebench

import (
	"fmt"
	"testing"
)

func TestParseCounts(t *testing.T) {
	for in, want := range map[string]string{"1,256": "[1 256]", " 8 , 4,2": "[8 4 2]", "64": "[64]"} {
		if got, err := ParseCounts(in); err != nil || fmt.Sprint(got) != want {
			t.Errorf("ParseCounts(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "1,x", "-3", "2,,4"} {
		if got, err := ParseCounts(bad); err == nil {
			t.Errorf("ParseCounts(%q) = %v, accepted", bad, got)
		}
	}
}
