package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/storage/sqlite"
	"github.com/tbgateway/tbgateway/storage/switchable"
)

// ApplyStorage switches the running gateway to the storage section raw (the main file's "storage" object, in the
// Python shape) without losing the backlog: the records not yet acknowledged in the old store are moved into the
// new one in order (or, for new settings on the same folder, the store is reopened on its files), connectors
// wait in Send meanwhile, and the old store is acknowledged and closed afterwards (see storage/switchable for
// the steps and what a crash at each one leaves).
//
// The section is validated first with the code check-config runs, without I/O; a storage folder outside the
// config folder, gateway.dataFolderPath and gateway.allowedRemoteFolders is refused. When the new store cannot
// be opened, cannot hold the backlog, or the records being sent are not acknowledged in time, the error says why
// and the old store goes on with all its records. On success the configuration that runs holds the new section.
// read_records_count and liveFirst, which the link reads, take effect at the next start. ctx bounds the whole
// switch (connectors wait at most that long).
func (g *Gateway) ApplyStorage(ctx context.Context, raw json.RawMessage) (switchable.Result, error) {
	return g.applyStorage(ctx, raw, nil)
}

// applyStorage is ApplyStorage with a save step: save, when set, runs once the backlog is in the new store and
// before it takes over, with the new configuration already the one that runs (config), so that the files name
// the new store before a record is written only there. Its failure does not stop the switch (the change then
// runs in memory, as the caller reports).
func (g *Gateway) applyStorage(ctx context.Context, raw json.RawMessage, save func(context.Context)) (switchable.Result, error) {
	if err := g.lockReconf(ctx); err != nil {
		return switchable.Result{}, err
	}
	defer g.unlockReconf()
	cur := g.config()
	next, warns, err := cur.WithSection("storage", raw, g.opts.Env)
	if err != nil {
		return switchable.Result{}, err
	}
	if err := g.checkStorageLocation(cur, next); err != nil {
		return switchable.Result{}, err
	}
	if reflect.DeepEqual(cur.Storage, next.Storage) {
		g.cfg.Store(next)
		g.log.Info("storage configuration unchanged; nothing to switch", "type", next.Storage.Type)
		return switchable.Result{}, nil
	}
	for _, w := range warns {
		g.log.Warn("storage configuration", "warning", w.String())
	}
	st := next.Storage
	if n := g.store.Stats().Count; st.Type == config.StorageMemory && n > st.MaxRecordsCount {
		return switchable.Result{}, fmt.Errorf("%w: storage.max_records_count %d is below the %d records waiting to be sent; nothing was changed",
			switchable.ErrNewStoreTooSmall, st.MaxRecordsCount, n)
	}
	if g.runCtx != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(g.runCtx, cancel)() // the gateway stopping ends a switch, which keeps the old store
	}
	log := g.log.With("component", "storage")
	target := switchable.Target{
		Open: func(context.Context) (tbgateway.Storage, error) { return openStorage(next, log) },
		// A crash after this leaves the new store named in the files and holding every record; the old one
		// keeps a copy until it is retired.
		Commit: func(ctx context.Context) error {
			g.cfg.Store(next)
			if save != nil {
				save(ctx)
			}
			return nil
		},
	}
	if storageLocation(cur) != "" && storageLocation(cur) == storageLocation(next) {
		target.InPlace = true
		target.Reopen = func(context.Context) (tbgateway.Storage, error) { return openStorage(cur, log) }
	}
	from, to := describeStorage(cur), describeStorage(next)
	g.log.Info("storage switch: connectors wait while the backlog moves", "from", from, "to", to, "in place", target.InPlace)
	res, err := g.store.Switch(ctx, target)
	if err != nil {
		return res, fmt.Errorf("switching the storage from %s to %s: %w", from, to, err)
	}
	g.cfg.Store(next) // an in-place switch runs no Commit
	g.log.Info("storage switched", "from", from, "to", to, "moved", res.Moved, "held", res.Held, "took", res.Took.String(), "settle", res.Settle.String(), "kept in the old storage", res.Kept)
	if cur.Storage.ReadRecordsCount != st.ReadRecordsCount || cur.Storage.LiveFirst != st.LiveFirst {
		g.log.Info("storage: read_records_count and liveFirst take effect at the next start")
	}
	return res, nil
}

// storageLocation is the folder a durable storage keeps its files in, resolved; "" for memory.
func storageLocation(cfg *config.Config) string {
	st := cfg.Storage
	switch st.Type {
	case config.StorageFile:
		return filepath.Clean(resolvePath(cfg.Dir, st.DataFolderPath))
	case config.StorageSQLite:
		return filepath.Clean(sqliteDir(cfg))
	}
	return ""
}

// describeStorage names a storage for the log: its type, and its folder when it has one.
func describeStorage(cfg *config.Config) string {
	if loc := storageLocation(cfg); loc != "" {
		return cfg.Storage.Type + " " + loc
	}
	return cfg.Storage.Type
}

// checkStorageLocation refuses a storage folder outside the config folder, the data folder and the folders the
// main file allows (gateway.allowedRemoteFolders), unless it is the folder in use.
func (g *Gateway) checkStorageLocation(cur, next *config.Config) error {
	loc := storageLocation(next)
	if loc == "" || loc == storageLocation(cur) {
		return nil
	}
	allowed := append([]string{cur.Dir, cur.Gateway.DataFolderPath}, cur.Gateway.AllowedRemoteFolders...)
	for _, dir := range allowed {
		if within(loc, dir) {
			return nil
		}
	}
	key := "storage.data_folder_path"
	if next.Storage.Type == config.StorageSQLite {
		key = "storage.data_file_path"
	}
	return fmt.Errorf("%s: the folder %s is outside the config folder, the data folder and gateway.allowedRemoteFolders; refused", key, loc)
}

// remoteStorage applies the shared attribute storage_configuration (the storage section with "ts") and echoes
// the section that runs. A value not newer than the main file (a value left at ThingsBoard from before the file
// was last changed) is ignored, as for connectors.
func (g *Gateway) remoteStorage(ctx context.Context, raw []byte, ts int64) error {
	sec := objectOf(raw)
	delete(sec, "ts")
	b, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("%s: %w", attrStorage, err)
	}
	if fi, err := os.Stat(g.config().File); err == nil && ts != 0 && ts <= fi.ModTime().UnixMilli() {
		g.log.Info("remote configuration: storage_configuration not newer than the main file; ignored", "ts", ts, "file", g.config().File)
		return nil
	}
	// A link that drops meanwhile does not end the switch (the records it held are rewound, which settles them).
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), remoteApplyTimeout)
	defer cancel()
	// The files are saved before the new store takes over; persistRemote, which runs after this, then finds
	// nothing left to write, so the outcome is published here.
	var saved bool
	var files, backups []string
	var saveErr error
	save := func(context.Context) {
		saved = true
		files, backups, saveErr = g.saveRemote(attrStorage, sec, ts)
	}
	_, err = g.applyStorage(actx, b, save)
	if saved {
		g.reportSaved(ctx, attrStorage, ts, files, backups, saveErr)
	}
	if err != nil {
		if errors.Is(err, switchable.ErrNotSettled) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (push it again to retry)", err)
		}
		return fmt.Errorf("%s: %w", attrStorage, err)
	}
	if ts == 0 {
		ts = g.now().UnixMilli()
	}
	g.publishRemote(ctx, map[string]any{attrStorage: sectionAttr(g.config().Raw["storage"], ts)})
	return nil
}

// sqliteDir is the folder of the sqlite storage's database, as openStorage opens it.
func sqliteDir(cfg *config.Config) string {
	return sqlite.DirFromDataFilePath(resolvePath(cfg.Dir, cfg.Storage.DataFilePath))
}
