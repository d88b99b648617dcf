package tenant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"

	"github.com/arena-hq/arena"
)

// SealerKeySize is the length of a Sealer's key: AES-256.
const SealerKeySize = 32

// Sealer encrypts the secrets the control plane keeps in its store
// (registry passwords) with AES-256-GCM, so that a copy of the database or a
// backup does not give them away. The key lives outside the store.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer with a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealerKeySize {
		return nil, arena.Errorf(arena.EINVALID, "the secret key must be %d bytes, not %d", SealerKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, arena.Internal(err, "creating the cipher")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, arena.Internal(err, "creating the cipher")
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to context (e.g. "org/app"), so that a sealed
// value copied onto another record does not open there.
func (s *Sealer) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms.
	return s.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open decrypts what Seal sealed with the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, arena.Errorf(arena.EINTERNAL, "a sealed secret is truncated")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, arena.Internal(err, "opening a sealed secret (was the secret key changed?)")
	}
	return out, nil
}

// sealRegistry fills a.SealedRegistry from a.Registry.
func (s *Sealer) sealRegistry(a *arena.Application) {
	a.SealedRegistry = nil
	if a.Registry == nil {
		return
	}
	data, _ := json.Marshal(a.Registry) // two strings: cannot fail
	a.SealedRegistry = s.Seal(data, a.OrgID+"/"+a.Name)
}

// openRegistry fills a.Registry from a.SealedRegistry.
func (s *Sealer) openRegistry(a *arena.Application) error {
	a.Registry = nil
	if len(a.SealedRegistry) == 0 {
		return nil
	}
	data, err := s.Open(a.SealedRegistry, a.OrgID+"/"+a.Name)
	if err != nil {
		return err
	}
	var auth arena.RegistryAuth
	if err := json.Unmarshal(data, &auth); err != nil {
		return arena.Internal(err, "decoding registry credentials")
	}
	a.Registry = &auth
	return nil
}
