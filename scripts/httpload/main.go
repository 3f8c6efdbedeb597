// Command httpload is the benchmarks' fixed-rate HTTP load generator: an
// open-loop schedule (request i is due at start + i/rate, whether or not
// earlier ones were answered, as wrk2 does), each latency measured from the
// request's due time to its answer, so a stalled server shows in the
// percentiles instead of slowing the generator down (no coordinated
// omission). Every latency is kept and sorted: the percentiles are exact.
//
//	go run ./scripts/httpload -url http://127.0.0.1:8000/predict -body event.json -rate 5000 -duration 10s
//
// It prints one JSON line: rate asked and achieved, requests, errors,
// non-2xx answers and the latency percentiles in milliseconds. Requests go
// only to the URL given (the benchmarks use 127.0.0.1); the run is bounded by
// -duration.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to POST to")
	bodyPath := flag.String("body", "", "file with the request body")
	ctype := flag.String("content-type", "application/json", "Content-Type of the requests")
	rate := flag.Float64("rate", 1000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "connections (and requests in flight) at most")
	warmup := flag.Duration("warmup", time.Second, "send at the rate this long first, not measured")
	flag.Parse()
	if *url == "" || *bodyPath == "" || *rate <= 0 || *dur <= 0 || *conns <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
	if *warmup > 0 {
		run(*url, *ctype, body, *rate, *warmup, *conns)
	}
	r := run(*url, *ctype, body, *rate, *dur, *conns)
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

type result struct {
	Rate     float64 `json:"rate_asked"`
	Achieved float64 `json:"rate_achieved"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Non2xx   int     `json:"non_2xx"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p99_9_ms"`
	Max      float64 `json:"max_ms"`
}

// run sends at rate for d and returns what it measured.
func run(url, ctype string, body []byte, rate float64, d time.Duration, conns int) result {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	n := int(rate * d.Seconds())
	due := make(chan time.Time, n)
	lat := make([][]time.Duration, conns)
	errs := make([]int, conns)
	non2xx := make([]int, conns)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for t := range due {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", ctype)
				resp, err := client.Do(req)
				if err != nil {
					errs[w]++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t))
				if resp.StatusCode/100 != 2 {
					non2xx[w]++
				}
			}
		}(w)
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		t := start.Add(time.Duration(i) * interval)
		if wait := time.Until(t); wait > 0 {
			time.Sleep(wait)
		}
		due <- t
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	r := result{Rate: rate}
	for w := range lat {
		all = append(all, lat[w]...)
		r.Errors += errs[w]
		r.Non2xx += non2xx[w]
	}
	slices.Sort(all)
	r.Requests = len(all) + r.Errors
	r.Achieved = float64(len(all)) / elapsed.Seconds()
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p * float64(len(all)-1))
		return float64(all[i].Microseconds()) / 1000
	}
	r.P50, r.P90, r.P99, r.P999, r.Max = q(0.5), q(0.9), q(0.99), q(0.999), q(1)
	return r
}
