package lambda

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// checkZip checks that code is a zip Lambda would accept: readable, with
// safe names, within the unzipped size limit. Whether it holds a
// bootstrap is found out when an instance starts, as on AWS.
func checkZip(code []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(code), int64(len(code)))
	if err != nil {
		return errInvalid("Could not unzip uploaded file. Please check your file, then try to upload again.")
	}
	var total uint64
	// Names unpack writes as files, and names that must be directories
	// (directory entries and every parent): one name in both cannot be
	// unpacked.
	files, dirs := map[string]bool{}, map[string]bool{".": true}
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if !safeName(f.Name) {
			return errInvalid("Could not unzip uploaded file: the entry %q leaves the code directory.", f.Name)
		}
		if problem := nameProblem(f.Name); problem != "" {
			return errInvalid("Could not unzip uploaded file: the entry %q %s.", f.Name, problem)
		}
		clean := path.Clean(f.Name)
		switch mode := f.Mode(); {
		case mode.IsDir():
			dirs[clean] = true
		case mode.IsRegular():
			files[clean] = true
		}
		for p := path.Dir(clean); p != "."; p = path.Dir(p) {
			dirs[p] = true
		}
	}
	for name := range files {
		if dirs[name] {
			return errInvalid("Could not unzip uploaded file: %q is both a file and a directory.", name)
		}
	}
	if total > maxUnzippedBytes {
		return errInvalid("Unzipped size must be smaller than %d bytes", maxUnzippedBytes)
	}
	return nil
}

// nameProblem says why no file can have an entry's name, or "": a NUL
// byte, or a name or one of its parts longer than Linux allows (255 bytes
// a part, 4,095 a path).
func nameProblem(name string) string {
	if strings.IndexByte(name, 0) >= 0 {
		return "has a NUL byte in its name"
	}
	if len(name) > 4095 {
		return "has a name longer than 4,095 bytes"
	}
	for part := range strings.SplitSeq(name, "/") {
		if len(part) > 255 {
			return "has a path element longer than 255 bytes"
		}
	}
	return ""
}

func safeName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return false
	}
	clean := path.Clean(name)
	return clean != ".." && !strings.HasPrefix(clean, "../")
}

// unpack writes the zip into dir: regular files and directories only
// (symbolic links are written as the files they are not: skipped), with
// their permission bits. bootstrap is made executable, as Lambda's
// runtime needs it to be.
func unpack(code []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(code), int64(len(code)))
	if err != nil {
		return fmt.Errorf("reading the code zip: %w", err)
	}
	for _, f := range zr.File {
		if !safeName(f.Name) {
			return fmt.Errorf("zip entry %q leaves the code directory", f.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(path.Clean(f.Name)))
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		case !mode.IsRegular():
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		perm := mode.Perm() | 0o400
		if path.Clean(f.Name) == "bootstrap" {
			perm |= 0o500
		}
		if err := writeEntry(f, target, perm); err != nil {
			return err
		}
	}
	return nil
}

func writeEntry(f *zip.File, target string, perm os.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(rc, maxUnzippedBytes+1)); err != nil {
		out.Close()
		return fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	return out.Close()
}
