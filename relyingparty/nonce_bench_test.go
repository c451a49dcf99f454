package relyingparty

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The environment of a nonce bench worker: this test binary re-executed
// as one verifier process.
const (
	workerStoreEnv = "EIDLINK_NONCE_BENCH_STORE" // "memory" or a Redis address
	workerDirEnv   = "EIDLINK_NONCE_BENCH_DIR"   // key.pem, card.der, ca.der; consumed-*.json
	workerCountEnv = "EIDLINK_NONCE_BENCH_N"     // logins to verify
)

func TestMain(m *testing.M) {
	if os.Getenv(workerStoreEnv) != "" {
		if err := benchWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "nonce bench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkNonceStores compares two verifier processes sharing one Redis
// with one process and the in-memory store, each process on one core
// (GOMAXPROCS=1: one instance per core, as instances behind a load
// balancer). Every login is a full VerifyChallenge of a fresh token.
// Then both processes replay, at the same time, every token either of
// them accepted (10,000 replays a round): replays-accepted must be 0.
//
// redis2/memory1 is the ratio of logins per second of wall-clock time. On
// a machine of two cores that also runs redis-server (and whatever else
// runs there), the two verifiers do not get a core each, so it also
// reports the ratio of the CPU time a login costs, counted on a machine of
// two cores doing nothing else: redis2/memory1-cpu is two cores over what
// a login costs the verifier and redis-server together, against one core
// over what it costs the in-memory verifier; *-verifier-us/login are the
// verifiers' CPU per login. redis-us/login is
// redis-server's CPU per command (a login's Consume), verifier-busy the share of wall-clock time
// the Redis verifiers were on a CPU (below 1 while they wait for Redis or
// for a core).
func BenchmarkNonceStores(b *testing.B) {
	const perWorker = 2500 // 2 × 2500 logins, then 10,000 replays
	p := getPKI()
	dir := b.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(p.rsaKey)
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	os.WriteFile(filepath.Join(dir, "card.der"), p.cie.Raw, 0o600)
	os.WriteFile(filepath.Join(dir, "ca.der"), p.ca.Raw, 0o600)
	srv := redistest.Start(b)
	for b.Loop() {
		// The best of 3 rounds, taken in turns, so that a burst of other
		// load on the machine does not decide the ratio.
		var memory, shared workerRun
		memory.cpuPerLogin, shared.cpuPerLogin = time.Hour, time.Hour
		for range 3 {
			m := runWorkers(b, dir, "memory", 1, 2*perWorker)
			memory.perSecond = max(memory.perSecond, m.perSecond)
			memory.cpuPerLogin = min(memory.cpuPerLogin, m.cpuPerLogin)
			before := redisCPU(b, srv.Addr)
			s := runWorkers(b, dir, srv.Addr, 2, perWorker)
			// Per command: a round issues and consumes 2 × perWorker nonces
			// and consumes the replays.
			redisPerLogin := (redisCPU(b, srv.Addr) - before) / time.Duration(2*2*perWorker+s.replays)
			shared.perSecond = max(shared.perSecond, s.perSecond)
			if s.cpuPerLogin+redisPerLogin < shared.cpuPerLogin+shared.redisPerLogin {
				shared.cpuPerLogin, shared.redisPerLogin, shared.busy = s.cpuPerLogin, redisPerLogin, s.busy
			}
			shared.replays += s.replays
			shared.accepted += s.accepted
		}
		b.ReportMetric(2*float64(memory.cpuPerLogin)/float64(shared.cpuPerLogin+shared.redisPerLogin), "redis2/memory1-cpu")
		b.ReportMetric(float64(memory.cpuPerLogin.Microseconds()), "memory-verifier-us/login")
		b.ReportMetric(float64(shared.cpuPerLogin.Microseconds()), "redis-verifier-us/login")
		b.ReportMetric(float64(shared.redisPerLogin.Microseconds()), "redis-us/login")
		b.ReportMetric(shared.busy, "verifier-busy")
		b.ReportMetric(memory.perSecond, "memory-logins/s")
		b.ReportMetric(shared.perSecond, "redis-logins/s")
		b.ReportMetric(shared.perSecond/memory.perSecond, "redis2/memory1")
		b.ReportMetric(float64(shared.replays), "replays")
		b.ReportMetric(float64(shared.accepted), "replays-accepted")
	}
}

type workerRun struct {
	perSecond         float64
	cpuPerLogin       time.Duration // the verifiers' CPU time over the logins
	redisPerLogin     time.Duration
	busy              float64 // CPU time / (wall-clock time × workers)
	replays, accepted int
}

// redisCPU is the CPU time redis-server has used, as INFO cpu reports it.
func redisCPU(b *testing.B, addr string) time.Duration {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %q", line)
			}
			total += s
		}
	}
	return time.Duration(total * float64(time.Second))
}

// runWorkers starts n workers, each verifying count logins at once, and
// then has them replay every consumed token at once.
func runWorkers(b *testing.B, dir, store string, n, count int) workerRun {
	type worker struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Scanner
	}
	old, _ := filepath.Glob(filepath.Join(dir, "consumed-*.json"))
	for _, f := range old {
		os.Remove(f)
	}
	ws := make([]worker, n)
	for i := range ws {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", workerStoreEnv+"="+store, workerDirEnv+"="+dir,
			workerCountEnv+"="+strconv.Itoa(count), "EIDLINK_NONCE_BENCH_ID="+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ws[i] = worker{cmd, in, bufio.NewScanner(out)}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	// expect reads one line from each worker, then sends them all cmd.
	expect := func(want, cmd string) []string {
		lines := make([]string, n)
		for i, w := range ws {
			if !w.out.Scan() || !strings.HasPrefix(w.out.Text(), want) {
				b.Fatalf("worker %d: got %q, want %s (stderr above)", i, w.out.Text(), want)
			}
			lines[i] = strings.TrimPrefix(w.out.Text(), want)
		}
		for _, w := range ws {
			io.WriteString(w.in, cmd+"\n")
		}
		return lines
	}
	expect("ready", "go")
	var r workerRun
	var slowest, cpu, wall time.Duration
	for _, l := range expect("done ", "replay") {
		w, c, _ := strings.Cut(l, " ")
		d, err1 := time.ParseDuration(w)
		u, err2 := time.ParseDuration(c)
		if err1 != nil || err2 != nil {
			b.Fatalf("worker said done %q", l)
		}
		slowest, cpu, wall = max(slowest, d), cpu+u, wall+d
	}
	r.perSecond = float64(n*count) / slowest.Seconds()
	r.cpuPerLogin = cpu / time.Duration(n*count)
	r.busy = float64(cpu) / float64(wall)
	for _, l := range expect("replayed ", "") {
		var k, a int
		fmt.Sscanf(l, "%d accepted %d", &k, &a)
		r.replays += k
		r.accepted += a
	}
	for _, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			b.Fatalf("worker: %v", err)
		}
	}
	return r
}

// benchWorker is one verifier process: it issues its nonces and signs
// their tokens, says "ready", verifies them all when told "go", saves
// them, says "done <time> <CPU time>", and when told "replay" presents every
// worker's tokens again and says "replayed <count> accepted <count>".
func benchWorker() error {
	dir := os.Getenv(workerDirEnv)
	count, _ := strconv.Atoi(os.Getenv(workerCountEnv))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "key.pem"))
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return fmt.Errorf("no key in %s", dir)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return err
	}
	card, err := x509.ParseCertificate(mustRead(filepath.Join(dir, "card.der")))
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(mustRead(filepath.Join(dir, "ca.der")))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	v, err := New(Config{Roots: roots})
	if err != nil {
		return err
	}
	var store NonceStore = NewMemoryNonceStore(0)
	if addr := os.Getenv(workerStoreEnv); addr != "memory" {
		c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		defer c.Close()
		store = NewRedisNonceStore(c, 0, "eidlink-bench:nonce:")
	}
	ctx := context.Background()
	type login struct{ Nonce, Token string }
	logins := make([]login, count)
	for i := range logins {
		n, err := store.Issue(ctx)
		if err != nil {
			return err
		}
		tok, err := makeToken(card, key.(*rsa.PrivateKey), testOrigin, n)
		if err != nil {
			return err
		}
		logins[i] = login{n, string(tok)}
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	in.Scan()

	// verify runs every login on 8 goroutines (to overlap Redis round
	// trips) and returns how many were accepted.
	verify := func(ls []login) int {
		var next, accepted atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(ls); i = int(next.Add(1)) - 1 {
					if _, err := v.VerifyChallenge(ctx, store, []byte(ls[i].Token), testOrigin, ls[i].Nonce); err == nil {
						accepted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return int(accepted.Load())
	}
	start, startCPU := time.Now(), cpuTime()
	if ok := verify(logins); ok != count {
		return fmt.Errorf("%d of %d logins accepted", ok, count)
	}
	elapsed, cpu := time.Since(start), cpuTime()-startCPU
	saved, _ := json.Marshal(logins)
	if err := os.WriteFile(filepath.Join(dir, "consumed-"+os.Getenv("EIDLINK_NONCE_BENCH_ID")+".json"), saved, 0o600); err != nil {
		return err
	}
	fmt.Println("done", elapsed, cpu)
	in.Scan()

	var replays []login
	files, _ := filepath.Glob(filepath.Join(dir, "consumed-*.json"))
	for _, f := range files {
		var ls []login
		if err := json.Unmarshal(mustRead(f), &ls); err != nil {
			return err
		}
		replays = append(replays, ls...)
	}
	fmt.Println("replayed", len(replays), "accepted", verify(replays))
	return nil
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}
