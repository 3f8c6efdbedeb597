package reload

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the bundle paths of the lineup and the WatchFiles until ctx
// ends, and reloads once nothing changed for WatchDebounce after a change.
// What it watches: each path's directory (a `current` symlink replaced, a
// Kubernetes volume's ..data swapped) and the directory the path resolves
// to (files changed in place). After each reload the watches follow the
// configuration. With model.watch off, or when the system gives no
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
	r.rewatch(w)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
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
			r.rewatch(w)
		}
	}
}

// rewatch makes the watcher watch the directories of the current
// configuration's paths, and nothing else.
func (r *Reloader) rewatch(w *fsnotify.Watcher) {
	cfg, err := r.config()
	if err != nil {
		cfg = r.opts.Initial // reported by the reload that read it
	}
	want := map[string]bool{}
	for _, p := range append([]string{cfg.Bundle, cfg.Canary, cfg.Shadow}, r.opts.WatchFiles...) {
		if _, builtin := r.opts.Builtin[p]; p == "" || builtin {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		want[filepath.Dir(abs)] = true
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			if st, err := os.Stat(real); err == nil && st.IsDir() {
				want[real] = true
			} else {
				want[filepath.Dir(real)] = true
			}
		}
	}
	for _, d := range w.WatchList() {
		if !want[d] {
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
}
