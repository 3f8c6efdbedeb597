package reload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the bundle paths of the lineup and the WatchFiles until ctx
// ends, and reloads once nothing changed for WatchDebounce after a change.
// What it watches: each path's directory (a `current` symlink replaced, a
// Kubernetes volume's ..data swapped) and the directory the path resolves
// to (files changed in place); a change of another file in a path's
// directory is no reload (a log written beside the config file would
// otherwise reload forever). After each reload the watches follow the
// configuration; a change between Load and the first watch is one reload.
// With model.watch off, or when the system gives no
// watcher (logged: reloads then need POST /admin/reload), it only waits
// for ctx: the service runs on without it.
func (r *Reloader) Run(ctx context.Context) error {
	if !r.opts.Initial.Watch {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Error("model watch: no file watcher; changes on disk need POST /admin/reload", "err", err)
		<-ctx.Done()
		return nil
	}
	defer w.Close()
	ws := r.rewatch(w)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	r.log.Debug("model watch: watching", "dirs", w.WatchList())
	if r.atLoad != nil && r.changedSinceLoad() {
		// Changed between Load and the watch (a symlink flipped while the
		// service started): no event will say so.
		debounce.Reset(0)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !ws.relevant(ev.Name) {
				continue
			}
			r.log.Debug("model watch: change on disk", "path", ev.Name, "op", ev.Op.String())
			debounce.Reset(r.opts.Initial.WatchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("model watch error; POST /admin/reload still reloads", "err", err)
		case <-debounce.C:
			r.Reload(ctx, "watch")
			ws = r.rewatch(w)
		}
	}
}

// watchSet is what the watcher listens to: per directory, the names in it
// that matter. A directory shares its events with every file in it (the
// config file's directory may hold a log the service writes), so an event
// on another name is no reason to reload.
type watchSet map[string]*watchDir

type watchDir struct {
	all   bool            // every name (a bundle's own directory)
	names map[string]bool // else these, and the ..data machinery of a Kubernetes volume
}

func (ws watchSet) add(dir, name string) {
	d := ws[dir]
	if d == nil {
		d = &watchDir{names: map[string]bool{}}
		ws[dir] = d
	}
	if name == "" {
		d.all = true
		return
	}
	d.names[name] = true
}

// relevant says whether a change of path is one of the watched paths'.
func (ws watchSet) relevant(path string) bool {
	d := ws[filepath.Dir(path)]
	if d == nil {
		return false
	}
	name := filepath.Base(path)
	return d.all || d.names[name] || strings.HasPrefix(name, "..")
}

// watchSetOf is the watch set of the configured paths: each path's name in
// its directory (a `current` symlink replaced), and so each symlink's it
// leads through (current -> v2 -> /mnt/v2.1), the directory a bundle
// path resolves to (files changed in place), and the name a file path
// resolves to in its directory.
func watchSetOf(paths []string) watchSet {
	ws := watchSet{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		for _, link := range linkChain(abs) {
			ws.add(filepath.Dir(link), filepath.Base(link))
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			if st, err := os.Stat(real); err == nil && st.IsDir() {
				ws.add(real, "")
			} else {
				ws.add(filepath.Dir(real), filepath.Base(real))
			}
		}
	}
	return ws
}

// linkChain is path and every symlink path leads through, in order, up to
// the first that is not a symlink (or does not exist).
func linkChain(path string) []string {
	chain := []string{path}
	for range 40 { // the kernel's own limit on a chain of links
		target, err := os.Readlink(path)
		if err != nil {
			break
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = filepath.Clean(target)
		chain = append(chain, path)
	}
	return chain
}

// rewatch makes the watcher watch the directories of the current
// configuration's paths, and nothing else, and returns what matters in
// them.
func (r *Reloader) rewatch(w *fsnotify.Watcher) watchSet {
	cfg, err := r.config()
	if err != nil {
		cfg = r.opts.Initial // reported by the reload that read it
	}
	var paths []string
	for _, p := range append([]string{cfg.Bundle, cfg.Canary, cfg.Shadow}, r.opts.WatchFiles...) {
		if _, builtin := r.opts.Builtin[p]; p != "" && !builtin {
			paths = append(paths, p)
		}
	}
	want := watchSetOf(paths)
	for _, d := range w.WatchList() {
		if want[d] == nil {
			_ = w.Remove(d)
		}
	}
	have := map[string]bool{}
	for _, d := range w.WatchList() {
		have[d] = true
	}
	for d := range want {
		if have[d] {
			continue
		}
		if err := w.Add(d); err != nil {
			r.log.Warn("model watch: cannot watch a directory; changes there need POST /admin/reload", "dir", d, "err", err)
		}
	}
	return want
}
