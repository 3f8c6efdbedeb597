package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Checksum is the bundle's identity: "sha256:" and the SHA-256 of the text
// `sha256sum` prints for the bundle's files, one "<hex>  <name>\n" line per
// file in byte order of the names. The files are the regular files at the
// top of dir (symlinks followed), names starting with a dot left out (the
// ..data machinery of a Kubernetes volume). So an operator gets the same
// value with
//
//	cd BUNDLE && LC_ALL=C sha256sum -- * | sha256sum
func Checksum(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	list := sha256.New()
	for _, name := range names {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		if !st.Mode().IsRegular() {
			continue
		}
		sum, err := fileSum(path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(list, "%s  %s\n", sum, name)
	}
	return "sha256:" + hex.EncodeToString(list.Sum(nil)), nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// realDir is the directory a configured bundle path stands for now:
// symlinks resolved (a `current` symlink into a directory of versions), and
// in a Kubernetes volume (ConfigMap, projected) the data directory its
// ..data symlink points at, which the kubelet swaps atomically. A load reads
// every file from this one directory, so it sees one version even if the
// symlink flips meanwhile.
func realDir(path string) (string, error) {
	d, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	if data, err := filepath.EvalSymlinks(filepath.Join(d, "..data")); err == nil {
		if st, err := os.Stat(data); err == nil && st.IsDir() {
			d = data
		}
	}
	st, err := os.Stat(d)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", errors.New("not a directory")
	}
	return filepath.Abs(d)
}
