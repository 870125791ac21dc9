package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the suffixes parseByteSize takes, longest first so that
// "MiB" is not read as "B" after a number "256Mi".
var byteUnits = []struct {
	suffix string
	scale  int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseByteSize reads a size such as "256MiB", "1GiB", "500MB" or a
// plain number of bytes; "-1" (any negative number) means unbounded.
func parseByteSize(s string) (int64, error) {
	text := strings.TrimSpace(s)
	scale := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(text, u.suffix); ok {
			text, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (write it like 256MiB, 1GiB or -1 for no limit)", s)
	}
	if n < 0 {
		return -1, nil
	}
	if n > math.MaxInt64/scale {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * scale, nil
}
