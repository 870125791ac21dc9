package main

import (
	"testing"
)

// FuzzConfigFile: any bytes as a configuration file either fail with an
// error or decode to keys that are all node settings; nothing panics.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"http = \"0.0.0.0:8080\"\n",
		"peer = [\"10.0.0.2:7070\", \"10.0.0.3:7070\"]\nbeacon-interval = \"250ms\"\n",
		"htpp = 1\n",
		"[api]\nrate = 1\n",
		"http = \n",
		"a.b.c = 1\n",
		"log-level = 'debug' # comment\n",
		"\"data-dir\" = \"\"\"multi\nline\"\"\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parseConfig("fuzz.toml", data)
		if err != nil {
			if file != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		for k := range file {
			if _, ok := settingByName(k); !ok {
				t.Fatalf("accepted unknown key %q", k)
			}
		}
	})
}
