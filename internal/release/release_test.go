package release

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

const own = "github.com/shoalws/shoal"

// released are the modules users install, in the order RELEASING.md tags
// them: each after the ones it requires.
var released = []string{"", "broker/nats", "examples/chat"}

// TestGoModsArePublishable: no go.mod in the repository carries a replace
// directive (go install pkg@version refuses one, and dependents ignore
// it), and each requires the repository's other modules at a release
// version, not a placeholder. go.work ties the checkout together instead.
func TestGoModsArePublishable(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range moduleDirs(t, root) {
		name := filepath.Join(dir, "go.mod")
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := modfile.Parse(name, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Replace {
			t.Errorf("%s: replace %s => %s: a published go.mod must not replace; go.work does it for the checkout", name, r.Old.Path, r.New.Path)
		}
		for _, r := range f.Require {
			if isOwn(r.Mod.Path) && (semver.Prerelease(r.Mod.Version) != "" || semver.Build(r.Mod.Version) != "") {
				t.Errorf("%s: requires %s %s, want a release version", name, r.Mod.Path, r.Mod.Version)
			}
		}
	}
}

// TestReleaseRehearsal follows RELEASING.md on a temporary clone of this
// checkout (uncommitted changes included): tag the root, make each nested
// module require the tagged versions and tag it, with every tag served by
// a file-based module proxy. Then, in a new module with no network, a
// user's go get of broker/nats and go install of the chat must work.
// Nothing is pushed and the repository's own tags are untouched.
func TestReleaseRehearsal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module proxy and installs from it")
	}
	src := repoRoot(t)
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	cloneCheckout(t, src, repo)
	version := nextVersion(t, src)
	t.Logf("rehearsing %s", version)

	proxy := Proxy{Dir: filepath.Join(work, "proxy")}
	maintainerCache := filepath.Join(work, "maintainer-modcache")
	tagInOrder(t, repo, proxy, maintainerCache, version)
	installOffline(t, work, []string{proxy.URL(), fileURL(maintainerCache, "cache/download")}, version)
}

// tagInOrder does what RELEASING.md asks of the maintainer: tag the root,
// then each nested module after making it require the tags before it,
// adding each tag to proxy. The maintainer has the network: third-party
// modules come from this machine's module cache or else its proxies, and
// the module cache written is cache, never the real one, which must not
// hold our rehearsal versions.
func tagInOrder(t *testing.T, repo string, proxy Proxy, cache, version string) {
	t.Helper()
	env := []string{
		"GOWORK=off",
		"GOPROXY=" + strings.Join(append([]string{proxy.URL(), fileURL(goEnv(t, "GOMODCACHE"), "cache/download")}, upstreamProxies(t)...), ","),
		"GOMODCACHE=" + cache,
		"GOFLAGS=-modcacherw",
		"GONOSUMDB=" + own, // not in the public checksum database until released
		"GOTOOLCHAIN=local",
	}
	for _, dir := range released {
		tag := version
		if dir != "" {
			deps := ownRequirements(t, filepath.Join(repo, dir, "go.mod"))
			args := []string{"get"}
			for _, d := range deps {
				args = append(args, d+"@"+version)
			}
			goRun(t, env, filepath.Join(repo, dir), args...)
			goRun(t, env, filepath.Join(repo, dir), "mod", "tidy")
			gitRun(t, repo, "commit", "-q", "-a", "-m", "release: "+dir+" requires "+strings.Join(deps, ", ")+" "+version)
			tag = dir + "/" + version
		}
		gitRun(t, repo, "tag", tag)
		if err := proxy.Add(repo, tag, dir, modulePath(dir), version); err != nil {
			t.Fatal(err)
		}
	}
}

// installOffline is the user: a new module, a fresh module cache, only
// the file proxies given, no checksum database (it cannot be reached
// without a network; the hashes in the chat's go.sum are still checked
// against the zips), and no network where the system can take it away.
// go get of broker/nats, a program built against it, and go install of
// the chat must work.
func installOffline(t *testing.T, work string, proxies []string, version string) {
	t.Helper()
	user := filepath.Join(work, "user")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"GOWORK=off",
		"GOPROXY=" + strings.Join(proxies, ","),
		"GOSUMDB=off",
		"GOMODCACHE=" + filepath.Join(work, "user-modcache"),
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
		"GOBIN=" + filepath.Join(work, "bin"),
	}
	offline := offlineWrapper(t)
	goRunIn(t, offline, env, user, "mod", "init", "example.com/user")
	goRunIn(t, offline, env, user, "get", own+"/broker/nats@"+version)
	main := `package main

import (
	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/broker/nats"
)

func main() {
	var b shoal.Broker
	b, _ = nats.New(nats.Options{URL: "nats://127.0.0.1:1"})
	_ = b
}
`
	if err := os.WriteFile(filepath.Join(user, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	// -trimpath keeps the build cache's keys free of the module cache's
	// path, so a second run compiles nothing new.
	goRunIn(t, offline, env, user, "build", "-trimpath", "-o", filepath.Join(work, "bin", "user"), ".")
	goRunIn(t, offline, env, user, "install", "-trimpath", own+"/examples/chat@"+version)
	if _, err := os.Stat(filepath.Join(work, "bin", "chat")); err != nil {
		t.Fatalf("go install left no chat binary: %v", err)
	}
	gomod, err := os.ReadFile(filepath.Join(user, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{own + " " + version, own + "/broker/nats " + version} {
		if !bytes.Contains(gomod, []byte(want)) {
			t.Errorf("user go.mod lacks %q:\n%s", want, gomod)
		}
	}
}

// cloneCheckout clones src into dir at src's HEAD and commits there what
// src's working tree has beyond it: changes to tracked files and files
// not yet added (ignored ones excepted).
func cloneCheckout(t *testing.T, src, dir string) {
	t.Helper()
	head := strings.TrimSpace(string(gitOut(t, src, "rev-parse", "HEAD")))
	gitRun(t, "", "clone", "-q", "--no-tags", "--no-checkout", src, dir)
	gitRun(t, dir, "checkout", "-q", "--detach", head)
	if diff := gitOut(t, src, "diff", "HEAD", "--binary"); len(diff) > 0 {
		cmd := exec.Command("git", "apply", "--index", "-")
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(diff)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("applying the checkout's changes: %v\n%s", err, out)
		}
	}
	for _, name := range strings.Split(string(gitOut(t, src, "ls-files", "-z", "--others", "--exclude-standard")), "\x00") {
		if name == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, dir, "add", "-A")
	if len(gitOut(t, dir, "status", "--porcelain")) > 0 {
		gitRun(t, dir, "commit", "-q", "-m", "the checkout's uncommitted changes")
	}
}

// nextVersion is the version the next release would get: the minor after
// the highest release tag of the root, or v0.1.0 before the first.
func nextVersion(t *testing.T, src string) string {
	t.Helper()
	latest := ""
	for _, tag := range strings.Fields(string(gitOut(t, src, "tag", "-l", "v*"))) {
		if semver.IsValid(tag) && semver.Prerelease(tag) == "" && semver.Compare(tag, latest) > 0 {
			latest = tag
		}
	}
	if latest == "" {
		return "v0.1.0"
	}
	var major, minor int
	if _, err := fmt.Sscanf(semver.MajorMinor(latest), "v%d.%d", &major, &minor); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("v%d.%d.0", major, minor+1)
}

// offlineWrapper is a command to run the user's go commands under, in a
// network namespace of their own, when the system allows it: then no use
// of the network can hide. Without it the environment alone keeps them
// off the network (only file:// proxies, no checksum database).
func offlineWrapper(t *testing.T) []string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err == nil && exec.Command(unshare, "-n", "true").Run() == nil {
		return []string{unshare, "-n"}
	}
	t.Log("no unshare -n here: the user's commands are offline by their environment only")
	return nil
}

// goRun runs the go command in dir with env added to this process's.
func goRun(t *testing.T, env []string, dir string, args ...string) {
	t.Helper()
	goRunIn(t, nil, env, dir, args...)
}

// goRunIn is goRun under a wrapper command such as unshare -n.
func goRunIn(t *testing.T, wrapper, env []string, dir string, args ...string) {
	t.Helper()
	argv := append(append(slices.Clone(wrapper), "go"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s (in %s): %v\n%s", strings.Join(argv, " "), dir, err, out)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// upstreamProxies are this machine's network proxies, without "direct"
// (a module missing from them must fail here, not be fetched from its
// repository) or "off".
func upstreamProxies(t *testing.T) []string {
	t.Helper()
	var list []string
	for _, p := range strings.FieldsFunc(goEnv(t, "GOPROXY"), func(r rune) bool { return r == ',' || r == '|' }) {
		if p != "direct" && p != "off" {
			list = append(list, p)
		}
	}
	return list
}

func fileURL(dir, sub string) string {
	return "file://" + filepath.ToSlash(filepath.Join(dir, sub))
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	gitOut(t, dir, args...)
}

// gitOut runs git in dir, as an identity of its own so that commits work
// on a machine with none configured, and returns its standard output.
func gitOut(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=shoal release rehearsal", "-c", "user.email=release@shoal.invalid",
		"-c", "commit.gpgsign=false",
	}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, stderr.Bytes())
	}
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	return strings.TrimSpace(string(gitOut(t, ".", "rev-parse", "--show-toplevel")))
}

// moduleDirs are the directories, relative to root, that hold a go.mod.
func moduleDirs(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs = append(dirs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func isOwn(path string) bool { return path == own || strings.HasPrefix(path, own+"/") }

// modulePath is the path of the module rooted at dir.
func modulePath(dir string) string {
	if dir == "" {
		return own
	}
	return own + "/" + dir
}

// ownRequirements are the repository's modules that a go.mod requires.
func ownRequirements(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(name, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var deps []string
	for _, r := range f.Require {
		if isOwn(r.Mod.Path) {
			deps = append(deps, r.Mod.Path)
		}
	}
	return deps
}
