package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Algorithm names a key type, as given to `websonic keys generate
// --algorithm`.
type Algorithm string

// The supported algorithms.
const (
	Ed25519   Algorithm = "ed25519"
	ECDSAP256 Algorithm = "ecdsa-p256"
)

// Algorithms lists the supported algorithms, the default first.
var Algorithms = []Algorithm{Ed25519, ECDSAP256}

var (
	// ErrEmptyPassword is returned when a key would be encrypted or
	// decrypted with an empty password.
	ErrEmptyPassword = errors.New("signing: empty password")
	// ErrWrongPassword is returned by Load when the key does not decrypt:
	// the password is wrong (or the encrypted key was altered).
	ErrWrongPassword = errors.New("signing: wrong password: the private key does not decrypt")
	// ErrNotEncrypted is returned by Load for a private key stored in clear.
	ErrNotEncrypted = errors.New("signing: private key is not encrypted")
	// ErrUnknownAlgorithm is returned for an algorithm or key type other
	// than ed25519 and ECDSA P-256.
	ErrUnknownAlgorithm = errors.New("signing: unknown algorithm")
)

// KeyPair is a freshly generated key: the private half already encrypted.
type KeyPair struct {
	Algorithm  Algorithm
	PrivatePEM []byte // "ENCRYPTED SIGSTORE PRIVATE KEY" PEM
	PublicPEM  []byte // "PUBLIC KEY" PEM
	KeyID      string // see KeyID
}

// Generate makes a new key of the given algorithm and encrypts its private
// half with password, which must not be empty.
func Generate(alg Algorithm, password []byte) (*KeyPair, error) {
	if len(password) == 0 {
		return nil, ErrEmptyPassword
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownAlgorithm, alg, Ed25519, ECDSAP256)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, fmt.Errorf("signing: encrypt private key: %w", err)
	}
	pub := priv.Public()
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("signing: encode public key: %w", err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		Algorithm:  alg,
		PrivatePEM: cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der),
		PublicPEM:  pubPEM,
		KeyID:      id,
	}, nil
}

// Load decrypts an encrypted private key PEM, as written by Generate, and
// returns a signer for it (ed25519, or ECDSA P-256 with SHA-256). A wrong
// password gives an error matching ErrWrongPassword.
func Load(privatePEM, password []byte) (signature.SignerVerifier, error) {
	if len(password) == 0 {
		return nil, ErrEmptyPassword
	}
	block, _ := pem.Decode(privatePEM)
	if block == nil {
		return nil, errors.New("signing: no PEM block in private key")
	}
	if block.Type != string(cryptoutils.EncryptedSigstorePrivateKeyPEMType) {
		if strings.Contains(block.Type, "PRIVATE KEY") && !strings.Contains(block.Type, "ENCRYPTED") {
			return nil, ErrNotEncrypted
		}
		return nil, fmt.Errorf("signing: unsupported PEM block %q (want %q)", block.Type, cryptoutils.EncryptedSigstorePrivateKeyPEMType)
	}
	// Re-encode the one block we checked, so nothing after it is parsed.
	one := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(one, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		// go-securesystemslib's encrypted.Decrypt reports a failed
		// secretbox open with this message and no sentinel; the tests
		// pin it.
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, fmt.Errorf("%w (%w)", ErrWrongPassword, err)
		}
		return nil, fmt.Errorf("signing: decode private key: %w", err)
	}
	switch k := priv.(type) {
	case ed25519.PrivateKey:
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrUnknownAlgorithm, k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("%w: private key type %T", ErrUnknownAlgorithm, priv)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing: load signer: %w", err)
	}
	return sv, nil
}

// LoadPublic parses a public key PEM, as written by Generate, into a
// verifier.
func LoadPublic(publicPEM []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(publicPEM)
	if err != nil {
		return nil, fmt.Errorf("signing: decode public key: %w", err)
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrUnknownAlgorithm, k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("%w: public key type %T", ErrUnknownAlgorithm, pub)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing: load verifier: %w", err)
	}
	return v, nil
}

// KeyID returns the lowercase hex SHA-256 of the PKIX DER encoding of pub:
// a stable fingerprint to print and to name keys by.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", fmt.Errorf("signing: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// WriteFiles writes kp as dir/name.key (mode 0600) and dir/name.pub
// (mode 0644, less the umask). It never replaces a file: if either exists
// it writes nothing and returns an error wrapping fs.ErrExist. dir must
// exist.
func WriteFiles(dir, name string, kp *KeyPair) (privPath, pubPath string, err error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return "", "", fmt.Errorf("signing: invalid key name %q", name)
	}
	privPath = filepath.Join(dir, name+".key")
	pubPath = filepath.Join(dir, name+".pub")
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("signing: %s: refusing to overwrite: %w", p, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("signing: %w", err)
		}
	}
	if err := writeNew(privPath, kp.PrivatePEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, kp.PublicPEM, 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeNew creates path exclusively (O_EXCL closes the race with the
// existence check) and writes data to it.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("signing: %s: refusing to overwrite: %w", path, err)
		}
		return fmt.Errorf("signing: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("signing: write %s: %w", path, err)
	}
	return nil
}

// LoadFile loads the encrypted private key at path (see Load).
func LoadFile(path string, password []byte) (signature.SignerVerifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	s, err := Load(b, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// LoadOrGenerate loads dir/name.key, or generates and writes the pair
// (created reports it) when neither file exists yet: for keys a server
// makes on its first start, such as the registry's online keys.
func LoadOrGenerate(dir, name string, alg Algorithm, password []byte) (s signature.SignerVerifier, created bool, err error) {
	path := filepath.Join(dir, name+".key")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// Parents stay traversable (a data directory also holds a
		// PostgreSQL cluster run by another user); the key folder does not.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, false, fmt.Errorf("signing: %w", err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, false, fmt.Errorf("signing: %w", err)
		}
		kp, err := Generate(alg, password)
		if err != nil {
			return nil, false, err
		}
		if _, _, err := WriteFiles(dir, name, kp); err != nil {
			return nil, false, err
		}
		created = true
	}
	s, err = LoadFile(path, password)
	return s, created, err
}
