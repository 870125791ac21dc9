package client

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

var (
	// ErrKeyFile is wrapped by every error about a key file's content.
	ErrKeyFile = errors.New("client: invalid key file")
	// ErrKeyPermissions: LoadKey refuses a key file that group or others
	// may read or write (on Unix). A device key that others can read is a
	// key that can be cloned, and a clone gets the device quarantined.
	ErrKeyPermissions = errors.New("client: key file is accessible to group or others")
)

// keyFileType is the only key type a key file may hold.
const keyFileType = "ed25519"

// maxKeyFile is far above the ~170 bytes of a real key file; a bigger
// file is not one.
const maxKeyFile = 4 << 10

// keyFile is the on-disk form. The public key is redundant with the seed;
// it is kept so an operator can tell which device a file belongs to
// without tools, and LoadKey checks that the two agree.
type keyFile struct {
	Type      string `json:"type"`
	PublicKey string `json:"public_key"`
	Seed      string `json:"seed"`
}

// GenerateKey returns a new Ed25519 key from the operating system's
// random source.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("client: generating key: %w", err)
	}
	return key, nil
}

// SaveKey writes key to path as {"type":"ed25519","public_key":hex,
// "seed":hex} with mode 0600. The file appears complete or not at all: it
// is written and synced under a temporary name in the same directory, then
// linked (or, with overwrite, renamed) into place. Without overwrite an
// existing file is left alone and the error wraps fs.ErrExist, because
// replacing a device's key by accident orphans its issuer chain.
func SaveKey(path string, key ed25519.PrivateKey, overwrite bool) error {
	if err := checkKey(key); err != nil {
		return err
	}
	data, err := json.Marshal(keyFile{
		Type:      keyFileType,
		PublicKey: hex.EncodeToString(key[ed25519.SeedSize:]),
		Seed:      hex.EncodeToString(key.Seed()),
	})
	if err != nil {
		return fmt.Errorf("client: encoding key: %w", err)
	}
	data = append(data, '\n')

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("client: saving key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // a no-op once the file is renamed
	// CreateTemp already uses 0600; Chmod states it, whatever the umask.
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("client: saving key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("client: saving key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("client: saving key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("client: saving key: %w", err)
	}

	if overwrite {
		err = os.Rename(tmpName, path)
	} else {
		// link fails if path exists, atomically, where a check before a
		// rename would race with another writer.
		err = os.Link(tmpName, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// Some file systems (FAT, some network mounts) have no hard
			// links; check-then-rename races only with another writer
			// of the same path.
			if _, statErr := os.Lstat(path); errors.Is(statErr, fs.ErrNotExist) {
				err = os.Rename(tmpName, path)
			} else if statErr == nil {
				err = fs.ErrExist
			}
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("client: key file %s already exists: %w", path, fs.ErrExist)
		}
	}
	if err != nil {
		return fmt.Errorf("client: saving key: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes the new directory entry durable. Best effort: some
// systems (Windows) cannot sync a directory, and the file itself already
// is.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// LoadKey reads a key file written by SaveKey. It refuses, with an error
// wrapping ErrKeyFile, anything but exactly that form: unknown or missing
// fields, another type, wrong lengths, bad hex, trailing data, or a
// public key that does not belong to the seed. On Unix it refuses a file
// that group or others may access (ErrKeyPermissions); chmod 600 fixes it.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: loading key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("client: loading key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	// Windows reports no Unix permission bits worth checking.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o; chmod 600 it", ErrKeyPermissions, path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("client: loading key: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKeyFile, path, maxKeyFile)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	return key, nil
}

func parseKey(data []byte) (ed25519.PrivateKey, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var kf keyFile
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("json: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if kf.Type != keyFileType {
		return nil, fmt.Errorf("type %q, want %q", kf.Type, keyFileType)
	}
	seed, err := hex.DecodeString(kf.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("seed must be %d hex digits", 2*ed25519.SeedSize)
	}
	pub, err := hex.DecodeString(kf.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public_key must be %d hex digits", 2*ed25519.PublicKeySize)
	}
	key := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(key[ed25519.SeedSize:], pub) {
		return nil, errors.New("public_key does not belong to the seed")
	}
	return key, nil
}

// checkKey refuses a key of the wrong size or whose public half does not
// match its seed, which would sign under one identity and claim another.
func checkKey(key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("client: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed())[ed25519.SeedSize:], key[ed25519.SeedSize:]) {
		return errors.New("client: private key's public half does not match its seed")
	}
	return nil
}
