package client

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeyRoundTrip(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "device.key")
	if err := SaveKey(path, key, false); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(got) {
		t.Error("loaded key differs from the saved one")
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 && runtime.GOOS != "windows" {
		t.Errorf("mode %04o, want 0600", perm)
	}
	data, _ := os.ReadFile(path)
	var fields map[string]string
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"type":       "ed25519",
		"public_key": hex.EncodeToString(key.Public().(ed25519.PublicKey)),
		"seed":       hex.EncodeToString(key.Seed()),
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("key file (-want +got):\n%s", diff)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("%d files in the directory, want only the key (no temporary left behind)", len(entries))
	}
}

func TestSaveKeyRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	first, _ := GenerateKey()
	second, _ := GenerateKey()
	if err := SaveKey(path, first, false); err != nil {
		t.Fatal(err)
	}
	err := SaveKey(path, second, false)
	if !errors.Is(err, fs.ErrExist) || !strings.HasPrefix(err.Error(), "client: ") {
		t.Errorf("second SaveKey = %v, want fs.ErrExist", err)
	}
	if got, _ := LoadKey(path); !first.Equal(got) {
		t.Error("refused save changed the file")
	}
	if err := SaveKey(path, second, true); err != nil {
		t.Fatalf("SaveKey with overwrite: %v", err)
	}
	if got, _ := LoadKey(path); !second.Equal(got) {
		t.Error("overwrite did not replace the key")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("%d files in the directory, want 1", len(entries))
	}
}

func TestSaveKeyRejectsBadKeys(t *testing.T) {
	key, _ := GenerateKey()
	mismatched := append(ed25519.PrivateKey(nil), key...)
	mismatched[40] ^= 1
	for name, k := range map[string]ed25519.PrivateKey{
		"short":           key[:32],
		"nil":             nil,
		"public mismatch": mismatched,
	} {
		path := filepath.Join(t.TempDir(), "k")
		if err := SaveKey(path, k, false); err == nil {
			t.Errorf("%s key saved", name)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s key left a file", name)
		}
	}
}

func TestLoadKeyRejects(t *testing.T) {
	key, _ := GenerateKey()
	seed := hex.EncodeToString(key.Seed())
	pub := hex.EncodeToString(key.Public().(ed25519.PublicKey))
	other, _ := GenerateKey()
	otherPub := hex.EncodeToString(other.Public().(ed25519.PublicKey))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "json"},
		{"not json", "seed=abc", "json"},
		{"truncated", `{"type":"ed25519","public_key":"` + pub, "json"},
		{"array", `[]`, "json"},
		{"wrong type", `{"type":"rsa","public_key":"` + pub + `","seed":"` + seed + `"}`, "type"},
		{"missing type", `{"public_key":"` + pub + `","seed":"` + seed + `"}`, "type"},
		{"short seed", `{"type":"ed25519","public_key":"` + pub + `","seed":"` + seed[:62] + `"}`, "seed"},
		{"long seed", `{"type":"ed25519","public_key":"` + pub + `","seed":"` + seed + `00"}`, "seed"},
		{"seed not hex", `{"type":"ed25519","public_key":"` + pub + `","seed":"` + strings.Repeat("zz", 32) + `"}`, "seed"},
		{"short public key", `{"type":"ed25519","public_key":"` + pub[:10] + `","seed":"` + seed + `"}`, "public_key"},
		{"missing public key", `{"type":"ed25519","seed":"` + seed + `"}`, "public_key"},
		{"public key of another seed", `{"type":"ed25519","public_key":"` + otherPub + `","seed":"` + seed + `"}`, "does not belong"},
		{"unknown field", `{"type":"ed25519","public_key":"` + pub + `","seed":"` + seed + `","extra":1}`, "unknown field"},
		{"trailing data", `{"type":"ed25519","public_key":"` + pub + `","seed":"` + seed + `"} {}`, "after the JSON"},
		{"too big", `{"type":"ed25519","x":"` + strings.Repeat("a", maxKeyFile) + `"}`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKey(path)
			if !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadKey = %v; want ErrKeyFile mentioning %q and the path", err, tc.want)
			}
		})
	}
}

func TestLoadKeyRefusesOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	key, _ := GenerateKey()
	path := filepath.Join(t.TempDir(), "k")
	if err := SaveKey(path, key, false); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKey(path); !errors.Is(err, ErrKeyPermissions) {
			t.Errorf("mode %04o: LoadKey = %v, want ErrKeyPermissions", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadKeyMissingFile(t *testing.T) {
	_, err := LoadKey(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKey of a missing file = %v, want fs.ErrNotExist", err)
	}
}
