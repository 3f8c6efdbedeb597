package deploy_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The container image, built without a container engine (scripts/build-image.sh:
// umoci), checked against deploy/Dockerfile, looked into, and run once with
// runc (Debian packages umoci and runc, scripts/install-deps.sh).

// ociImage is what the test reads of the built OCI image layout.
type ociImage struct {
	Config struct {
		User         string              `json:"User"`
		Env          []string            `json:"Env"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"config"`
	OS           string `json:"os"`
	Architecture string `json:"architecture"`

	files map[string]*tar.Header // path in the image (no leading /) -> header
	data  map[string][]byte      // contents of the regular files the test reads
}

func readBlob(t *testing.T, layout, digest string, v any) []byte {
	t.Helper()
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok {
		t.Fatalf("digest %q", digest)
	}
	b, err := os.ReadFile(filepath.Join(layout, "blobs", algo, hex))
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("blob %s: %v", digest, err)
		}
	}
	return b
}

// readImage reads the image tagged tag from an OCI layout.
func readImage(t *testing.T, layout, tag string) ociImage {
	t.Helper()
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	}
	var index struct{ Manifests []descriptor }
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(index.Manifests, func(d descriptor) bool { return d.Annotations["org.opencontainers.image.ref.name"] == tag })
	if i < 0 {
		t.Fatalf("index.json has no image tagged %q: %+v", tag, index.Manifests)
	}
	var manifest struct {
		Config descriptor
		Layers []descriptor
	}
	readBlob(t, layout, index.Manifests[i].Digest, &manifest)
	var img ociImage
	readBlob(t, layout, manifest.Config.Digest, &img)
	img.files, img.data = map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range manifest.Layers {
		zr, err := gzip.NewReader(bytes.NewReader(readBlob(t, layout, l.Digest, nil)))
		if err != nil {
			t.Fatalf("layer %s (%s): %v", l.Digest, l.MediaType, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
			name = strings.TrimSuffix(name, "/")
			img.files[name] = h
			if h.Typeflag == tar.TypeReg && (name == "streamscore" || strings.HasPrefix(name, "etc/") || strings.HasPrefix(name, "licenses/")) {
				if img.data[name], err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return img
}

// dockerfileFinal is the final stage's USER, ENV, EXPOSE, ENTRYPOINT, CMD
// and COPY destinations of deploy/Dockerfile.
type dockerfileFinal struct {
	user, entrypoint, cmd string
	env, expose, copies   []string
}

func readDockerfile(t *testing.T) dockerfileFinal {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfileFinal
	sc := bufio.NewScanner(f)
	final := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			final = strings.HasPrefix(rest, "scratch")
		case "USER":
			d.user = rest
		case "ENV":
			d.env = append(d.env, rest)
		case "EXPOSE":
			d.expose = append(d.expose, rest)
		case "ENTRYPOINT":
			d.entrypoint = rest
		case "CMD":
			d.cmd = rest
		case "COPY":
			if final {
				fields := strings.Fields(rest)
				d.copies = append(d.copies, fields[len(fields)-1])
			}
		}
	}
	return d
}

func jsonArray(v []string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestImage(t *testing.T) {
	for _, tool := range []string{"umoci", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (Debian package %s; scripts/install-deps.sh installs it)", tool, tool)
		}
	}
	out := t.TempDir()
	start := time.Now()
	cmd := exec.Command("bash", "../scripts/build-image.sh", out)
	cmd.Env = append(os.Environ(), "VERSION=v9.8.7-test", "COMMIT=0123456789abcdef0123456789abcdef01234567")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/build-image.sh: %v\n%s", err, stderr.String())
	}
	ref := strings.TrimSpace(stdout.String())
	t.Logf("built %s in %.1fs: %s", ref, time.Since(start).Seconds(), strings.TrimSpace(stderr.String()))
	_, tag, _ := strings.Cut(ref, ":")
	layout := filepath.Join(out, "oci")
	img := readImage(t, layout, tag)

	t.Run("config matches deploy/Dockerfile", func(t *testing.T) {
		d := readDockerfile(t)
		c := img.Config
		if c.User != d.user {
			t.Errorf("user %q, Dockerfile USER %q", c.User, d.user)
		}
		if got := jsonArray(c.Entrypoint); got != d.entrypoint {
			t.Errorf("entrypoint %s, Dockerfile ENTRYPOINT %s", got, d.entrypoint)
		}
		if got := jsonArray(c.Cmd); got != d.cmd {
			t.Errorf("cmd %s, Dockerfile CMD %s", got, d.cmd)
		}
		for _, e := range d.env {
			if !slices.Contains(c.Env, e) {
				t.Errorf("env %v lacks the Dockerfile's %s", c.Env, e)
			}
		}
		for _, p := range d.expose {
			if _, ok := c.ExposedPorts[p+"/tcp"]; !ok {
				t.Errorf("exposed ports %v lack the Dockerfile's %s", c.ExposedPorts, p)
			}
		}
		for _, dst := range d.copies {
			if _, ok := img.files[strings.Trim(dst, "/")]; !ok {
				t.Errorf("the image has no %s (COPY in the Dockerfile)", dst)
			}
		}
		if img.OS != "linux" || img.Architecture != "amd64" {
			t.Errorf("platform %s/%s, want linux/amd64", img.OS, img.Architecture)
		}
		for k, want := range map[string]string{"org.opencontainers.image.version": "v9.8.7-test",
			"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567", "org.opencontainers.image.licenses": "Apache-2.0"} {
			if c.Labels[k] != want {
				t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
			}
		}
	})

	t.Run("contents", func(t *testing.T) {
		bin := img.files["streamscore"]
		if bin == nil || bin.Mode&0o111 == 0 {
			t.Fatalf("no executable /streamscore: %+v", bin)
		}
		f, err := elf.NewFile(bytes.NewReader(img.data["streamscore"]))
		if err != nil {
			t.Fatalf("/streamscore is not an ELF binary: %v", err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("/streamscore has a program interpreter: not a static binary (CGO_ENABLED=0)")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("/streamscore links %v: want a static binary", libs)
		}
		if !bytes.Contains(img.data["etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")) {
			t.Error("no CA bundle at /etc/ssl/certs/ca-certificates.crt (TLS to brokers and registries)")
		}
		uid, _, _ := strings.Cut(img.Config.User, ":")
		if !strings.Contains(string(img.data["etc/passwd"]), ":x:"+uid+":") {
			t.Errorf("/etc/passwd has no entry for uid %s: %q", uid, img.data["etc/passwd"])
		}
		if tmp := img.files["tmp"]; tmp == nil || tmp.Mode&0o1777 != 0o1777 {
			t.Errorf("/tmp: %+v, want a directory with mode 1777", tmp)
		}
		for _, p := range []string{"examples/fraud/bundle.json", "licenses/LICENSE", "licenses/THIRD_PARTY_LICENSES"} {
			if img.files[p] == nil {
				t.Errorf("the image has no /%s", p)
			}
		}
		for name, h := range img.files {
			if h.Typeflag == tar.TypeReg && h.Mode&0o002 != 0 {
				t.Errorf("/%s is world-writable", name)
			}
		}
		t.Logf("%d files; /streamscore %.1f MB", len(img.files), float64(bin.Size)/1e6)
	})

	t.Run("runs", func(t *testing.T) {
		bundle := filepath.Join(out, "bundle")
		if b, err := exec.Command("umoci", "unpack", "--image", layout+":"+tag, bundle).CombinedOutput(); err != nil {
			t.Fatalf("umoci unpack: %v\n%s", err, b)
		}
		specPath := filepath.Join(bundle, "config.json")
		var spec map[string]any
		b, err := os.ReadFile(specPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &spec); err != nil {
			t.Fatal(err)
		}
		proc := spec["process"].(map[string]any)
		if got := proc["args"]; !slices.Equal(toStrings(got), []string{"/streamscore", "run"}) {
			t.Errorf("the runtime spec's process args %v, want the image's entrypoint and cmd", got)
		}
		proc["args"] = []string{"/streamscore", "version"}
		proc["terminal"] = false
		if b, err = json.Marshal(spec); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(specPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		id := "streamscore-image-test-" + strconv.Itoa(os.Getpid())
		t.Cleanup(func() { _ = exec.Command("runc", "delete", "--force", id).Run() })
		run := exec.Command("runc", "run", "--bundle", bundle, id)
		var stdout, stderr bytes.Buffer
		run.Stdout, run.Stderr = &stdout, &stderr
		if err := run.Run(); err != nil {
			t.Fatalf("runc run (streamscore version in the image): %v\n%s", err, stderr.String())
		}
		want := regexp.MustCompile(`^streamscore v9\.8\.7-test \(module github\.com/streamscore/streamscore@\S+, commit 0123456789abcdef0123456789abcdef01234567, go\S+\)\n$`)
		if !want.MatchString(stdout.String()) {
			t.Errorf("streamscore version in the image printed %q, want %s", stdout.String(), want)
		}
		t.Logf("runc: %s", strings.TrimSpace(stdout.String()))
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
