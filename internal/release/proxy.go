// Package release rehearses a release of shoal's modules before any tag
// is pushed. It builds a Go module proxy, in the layout GOPROXY=file://
// reads, from tags of a git repository; its test follows RELEASING.md on
// a temporary clone and installs the result in a module that has no
// network, as a user would.
package release

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// Proxy is a directory laid out as a module proxy: for each module,
// <escaped path>/@v/list and, per version, .info, .mod and .zip.
type Proxy struct {
	Dir string
}

// URL is the GOPROXY entry that serves p.
func (p Proxy) URL() string { return "file://" + filepath.ToSlash(p.Dir) }

// Add publishes version of modulePath from the git worktree repo as it is
// at rev, with the module rooted at subdir ("" for the repository root).
// The zip is made as the go command makes one from a tag (git archive,
// nested modules and vendor directories left out, the root LICENSE
// added to a nested module that has none), so its hash is the one users'
// go.sum files will record.
func (p Proxy) Add(repo, rev, subdir, modulePath, version string) error {
	mv := module.Version{Path: modulePath, Version: version}
	if err := module.Check(modulePath, version); err != nil {
		return err
	}
	escPath, err := module.EscapePath(modulePath)
	if err != nil {
		return err
	}
	escVersion, err := module.EscapeVersion(version)
	if err != nil {
		return err
	}

	gomod, err := git(repo, "show", rev+":"+path.Join(subdir, "go.mod"))
	if err != nil {
		return err
	}
	f, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return err
	}
	if f.Module == nil || f.Module.Mod.Path != modulePath {
		return fmt.Errorf("%s/go.mod at %s is not module %s", subdir, rev, modulePath)
	}
	stamp, err := git(repo, "log", "-1", "--format=%ct", rev)
	if err != nil {
		return err
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(string(stamp)), 10, 64)
	if err != nil {
		return fmt.Errorf("commit time of %s: %w", rev, err)
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Unix(secs, 0).UTC()})
	if err != nil {
		return err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromVCS(&zip, mv, repo, rev, subdir); err != nil {
		return err
	}

	dir := filepath.Join(p.Dir, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for ext, data := range map[string][]byte{".info": info, ".mod": gomod, ".zip": zip.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, escVersion+ext), data, 0o644); err != nil {
			return err
		}
	}
	return addToList(filepath.Join(dir, "list"), version)
}

// addToList records version in a module's list of versions.
func addToList(list, version string) error {
	data, err := os.ReadFile(list)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	versions := strings.Fields(string(data))
	if slices.Contains(versions, version) {
		return nil
	}
	versions = append(versions, version)
	return os.WriteFile(list, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}

// git runs a git command in dir and returns its standard output.
func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
