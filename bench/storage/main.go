// Command storage measures a durable storage: writers Put records while one reader takes them with Next and
// acknowledges them, as the uplink would; it reports records/s and MB/s of the whole put+read+ack run, and the
// bytes on disk per record (measured after a write-only run of the same records).
//
//	go run ./bench/storage -storage file -records 200000 -size 100 -writers 16 -batch 1 -fsync 1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/file"
)

type config struct {
	storage string
	dir     string
	records int
	size    int
	writers int
	batch   int
	fsync   int
}

func main() {
	var c config
	flag.StringVar(&c.storage, "storage", "file", "storage type to measure (file)")
	flag.StringVar(&c.dir, "dir", "", "directory for the store (default: a new temporary directory, removed afterwards)")
	flag.IntVar(&c.records, "records", 200000, "records to put, read and acknowledge")
	flag.IntVar(&c.size, "size", 100, "approximate encoded size of one record in bytes")
	flag.IntVar(&c.writers, "writers", 16, "concurrent writers")
	flag.IntVar(&c.batch, "batch", 1, "records per Put")
	flag.IntVar(&c.fsync, "fsync", 1, "fsync policy: max records between fsync (1 = sync every group commit)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "storage bench:", err)
		os.Exit(1)
	}
}

// open opens the storage under test in dir, sized to hold every record.
func open(c config, dir string) (tbgateway.Storage, error) {
	switch c.storage {
	case "file":
		return file.Open(file.Options{Dir: dir, MaxRecords: c.records + 1, MaxRecordsBetweenFsync: c.fsync},
			slog.New(slog.DiscardHandler))
	}
	return nil, fmt.Errorf("unknown storage %q", c.storage)
}

func run(c config) error {
	base := c.dir
	if base == "" {
		tmp, err := os.MkdirTemp("", "tbgw-storage-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		base = tmp
	}
	recs := makeRecords(c)
	elapsed, err := putReadAck(c, filepath.Join(base, "run"), recs)
	if err != nil {
		return err
	}
	perRec, err := diskPerRecord(c, filepath.Join(base, "size"), recs)
	if err != nil {
		return err
	}
	enc := 0
	for i := range recs {
		enc += len(recs[i].AppendBinary(nil))
	}
	rate := float64(c.records) / elapsed.Seconds()
	fmt.Printf("storage=%s records=%d size=%dB (encoded %.0fB) writers=%d batch=%d fsync=%d\n",
		c.storage, c.records, c.size, float64(enc)/float64(len(recs)), c.writers, c.batch, c.fsync)
	fmt.Printf("put+read+ack: %v, %.0f records/s, %.1f MB/s of encoded records; %.1f bytes on disk per record\n",
		elapsed.Round(time.Millisecond), rate, rate*float64(enc)/float64(len(recs))/1e6, perRec)
	return nil
}

// makeRecords builds one record per writer slot, padded to about size bytes.
func makeRecords(c config) []tbgateway.Record {
	recs := make([]tbgateway.Record, c.records)
	pad := strings.Repeat("x", max(c.size-60, 1))
	for i := range recs {
		recs[i] = tbgateway.Record{
			Device: fmt.Sprintf("device-%04d", i%1000),
			Telemetry: []tbgateway.Telemetry{{TS: 1700000000000 + int64(i), Values: map[string]any{
				"temperature": 21.5, "seq": int64(i), "note": pad}}},
		}
	}
	return recs
}

// putReadAck runs the writers and the reader concurrently until every record is acknowledged.
func putReadAck(c config, dir string, recs []tbgateway.Record) (time.Duration, error) {
	s, err := open(c, dir)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, c.writers+1)
	per := (len(recs) + c.writers - 1) / c.writers
	for w := range c.writers {
		mine := recs[min(w*per, len(recs)):min((w+1)*per, len(recs))]
		wg.Go(func() {
			for i := 0; i < len(mine); i += c.batch {
				if err := s.Put(ctx, mine[i:min(i+c.batch, len(mine))]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		seqs := make([]uint64, 0, 1000)
		for done := 0; done < len(recs); {
			es, err := s.Next(ctx, 1000)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					errs <- err
				}
				return
			}
			seqs = seqs[:0]
			for _, e := range es {
				seqs = append(seqs, e.Seq)
			}
			if err := s.Ack(seqs...); err != nil {
				errs <- err
				return
			}
			done += len(es)
		}
	})
	go func() { wg.Wait(); close(errs) }()
	if err := <-errs; err != nil {
		cancel()
		return 0, err
	}
	return time.Since(start), s.Close()
}

// diskPerRecord puts the records without reading them and returns the store's bytes on disk per record.
func diskPerRecord(c config, dir string, recs []tbgateway.Record) (float64, error) {
	c.writers = 1
	s, err := open(c, dir)
	if err != nil {
		return 0, err
	}
	for i := 0; i < len(recs); i += 1000 {
		if err := s.Put(context.Background(), recs[i:min(i+1000, len(recs))]); err != nil {
			s.Close()
			return 0, err
		}
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	var total int64
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			total += fi.Size()
		}
		return err
	})
	return float64(total) / float64(len(recs)), err
}
