package ceremony_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/bundle/verify"
	"github.com/keyrite/keyrite/ceremony"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/pkcs11"
	"github.com/keyrite/keyrite/internal/term"
	"github.com/keyrite/keyrite/internal/testenv"
	"github.com/keyrite/keyrite/internal/testenv/offline"
	"github.com/keyrite/keyrite/internal/testenv/rawpkcs11"
)

// rawWork is the device work of an init through miekg/pkcs11 directly,
// the floor under any PKCS#11 tool: keygens key pairs generated (each
// with its self-test signature) and sigs signatures in all, on the same
// token as the init.
func rawWork(b *testing.B, h *testenv.SoftHSM, round, keygens, sigs int) time.Duration {
	d := rawpkcs11.Open(b, h)
	defer d.Close()
	key := d.Generate(fmt.Sprintf("raw-root%d", round))
	start := time.Now()
	for i := range keygens {
		d.Sign(d.Generate(fmt.Sprintf("raw%d-%d", round, i)), "self-test")
	}
	for range sigs - keygens {
		d.Sign(key, "keyrite benchmark")
	}
	return time.Since(start)
}

// BenchmarkInit100GUNs measures init of 100 new GUNs on SoftHSM and, in the
// same run, the same device work through miekg/pkcs11 directly (a key
// generation per GUN and every signature: certificates, metadata,
// self-tests, the seal). Reported:
// sigs/op (device signatures per init), raw-ns/op and x-raw (init time as a
// multiple of the raw signing time). init's extra work per GUN: one key
// generation, a certificate, notary's metadata building, software
// verification of every signature, and writing and re-verifying the bundle.
// seal-ns/op and x-unsealed: what sealing the transcript adds (sealCost).
func BenchmarkInit100GUNs(b *testing.B) { benchInit(b, false) }

// BenchmarkInit100GUNsSharedTargets is the same with one existing targets
// key for every GUN (--targets-key), leaving out 100 key generations: what
// remains is keyrite's signing path.
func BenchmarkInit100GUNsSharedTargets(b *testing.B) { benchInit(b, true) }

func benchInit(b *testing.B, shared bool) {
	const n = 100
	h := testenv.NewSoftHSM(b, "bench")
	dir := b.TempDir()
	req := filepath.Join(dir, "request")
	guns := benchRequest(b, req, n)
	ctx := context.Background()

	var rawTotal, initTotal, sealTotal time.Duration
	var sigs int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		drv := pkcs11.NewDriver()
		reg := hsm.NewRegistry()
		reg.Register("pkcs11", drv)
		env := session.Env{Registry: reg, HSM: hsm.Options{PIN: hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
			return term.ReadSecretFile(h.PINFile)
		}), Module: h.Module}}
		label := fmt.Sprintf("root%d", i)
		if _, err := ceremony.GenerateKey(ctx, env, ceremony.GenerateOptions{Device: "pkcs11:token=bench", Label: label}); err != nil {
			b.Fatal(err)
		}
		o := ceremony.InitOptions{Request: req, Out: filepath.Join(dir, fmt.Sprintf("signed%d", i)),
			RootKeys: []string{"pkcs11:token=bench;object=" + label}, GUNs: guns, RootExpiry: 10 * 365 * 24 * time.Hour,
			TargetsExpiry: 3 * 365 * 24 * time.Hour, TargetsDevice: "pkcs11:token=bench"}
		if shared {
			if _, err := ceremony.GenerateKey(ctx, env, ceremony.GenerateOptions{Device: "pkcs11:token=bench", Label: label + "-targets"}); err != nil {
				b.Fatal(err)
			}
			o.TargetsKey = "pkcs11:token=bench;object=" + label + "-targets"
		}
		b.StartTimer()
		start := time.Now()
		res, err := ceremony.Init(ctx, env, o)
		initTotal += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		sigs = res.Signatures
		// Targets keys are labelled by GUN: remove them for the next round.
		for _, r := range res.Repos {
			if shared {
				break
			}
			bk, _, err := reg.OpenDevice(ctx, r.TargetsKeyURI, env.HSM)
			if err != nil {
				b.Fatal(err)
			}
			if err := bk.Delete(ctx, r.TargetsKeyURI); err != nil {
				b.Fatal(err)
			}
			bk.Close()
		}
		sealTotal += sealCost(b, ctx, reg, env, o.Out, o.RootKeys[0])
		drv.Close()
		keygens := 0
		if !shared {
			keygens = len(res.Repos)
		}
		rawTotal += rawWork(b, h, i, keygens, int(sigs))
		b.StartTimer()
	}
	rounds := float64(b.N)
	b.ReportMetric(float64(sigs), "sigs/op")
	b.ReportMetric(float64(rawTotal.Nanoseconds())/rounds, "raw-ns/op")
	b.ReportMetric(float64(initTotal)/float64(rawTotal), "x-raw")
	b.ReportMetric(float64(sealTotal.Nanoseconds())/rounds, "seal-ns/op")
	b.ReportMetric(float64(initTotal)/float64(initTotal-sealTotal), "x-unsealed")
}

// sealCost is what sealing adds to an init, measured on the bundle it
// just wrote, in the same run: making the seal (hashing every line and
// file, one signature through the device, verified in software) and
// checking it when the bundle is read back (signatures, lines, files,
// and that the sealing keys signed the metadata). x-unsealed is init's
// time over init's time without it.
func sealCost(b *testing.B, ctx context.Context, reg *hsm.Registry, env session.Env, dir, keyURI string) time.Duration {
	s, err := bundle.ReadSigned(dir)
	if err != nil {
		b.Fatal(err)
	}
	bk, _, err := reg.OpenDevice(ctx, keyURI, env.HSM)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	k, err := bk.Open(ctx, keyURI)
	if err != nil {
		b.Fatal(err)
	}
	files := bundle.Files{}
	for p, f := range s.Files {
		if bundle.Sealed(p) {
			files[p] = f
		}
	}
	start := time.Now()
	seal, err := bundle.NewSeal(files)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256(seal.Message())
	sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	if err := hsm.VerifyDigest(k.Public(), digest[:], sig); err != nil {
		b.Fatal(err)
	}
	if _, err := seal.Marshal(); err != nil {
		b.Fatal(err)
	}
	entries, err := bundle.VerifyTranscript(s.Files[bundle.TranscriptName])
	if err != nil {
		b.Fatal(err)
	}
	rep, err := verify.CheckSeal(dir, s.Files, entries)
	if err != nil {
		b.Fatal(err)
	}
	if err := verify.CheckSealedBySigners(s, rep); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkInit20GUNsJournal measures init of 20 new GUNs on SoftHSM with
// the journal (each targets key announced before it is made and recorded
// after, every record fsynced) and without, alternating which goes first,
// in the same run. Reported: the median of each (with-ms, without-ms) and
// x-journal, the ratio of the medians.
func BenchmarkInit20GUNsJournal(b *testing.B) {
	const n = 20
	h := testenv.NewSoftHSM(b, "bench")
	dir := b.TempDir()
	req := filepath.Join(dir, "request")
	guns := benchRequest(b, req, n)
	ctx := context.Background()
	var with, without []time.Duration
	run := func(i int, journalled bool) time.Duration {
		drv := pkcs11.NewDriver()
		defer drv.Close()
		reg := hsm.NewRegistry()
		reg.Register("pkcs11", drv)
		env := session.Env{Registry: reg, HSM: hsm.Options{PIN: hsm.PINFunc(func(context.Context, hsm.PINRequest) ([]byte, error) {
			return term.ReadSecretFile(h.PINFile)
		}), Module: h.Module}}
		if journalled {
			env.Journal = filepath.Join(dir, "journal")
		}
		label := fmt.Sprintf("root%d-%v", i, journalled)
		if _, err := ceremony.GenerateKey(ctx, env, ceremony.GenerateOptions{Device: "pkcs11:token=bench", Label: label}); err != nil {
			b.Fatal(err)
		}
		o := ceremony.InitOptions{Request: req, Out: filepath.Join(dir, fmt.Sprintf("signed%d-%v", i, journalled)),
			RootKeys: []string{"pkcs11:token=bench;object=" + label}, GUNs: guns, RootExpiry: 10 * 365 * 24 * time.Hour,
			TargetsExpiry: 3 * 365 * 24 * time.Hour, TargetsDevice: "pkcs11:token=bench"}
		start := time.Now()
		res, err := ceremony.Init(ctx, env, o)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Repos {
			bk, _, err := reg.OpenDevice(ctx, r.TargetsKeyURI, env.HSM)
			if err != nil {
				b.Fatal(err)
			}
			if err := bk.Delete(ctx, r.TargetsKeyURI); err != nil {
				b.Fatal(err)
			}
			bk.Close()
		}
		return took
	}
	for i := 0; b.Loop(); i++ {
		first := i%2 == 0
		for _, journalled := range []bool{first, !first} {
			d := run(i, journalled)
			if journalled {
				with = append(with, d)
			} else {
				without = append(without, d)
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mw, mo := median(with), median(without)
	b.ReportMetric(float64(mw.Microseconds())/1000, "with-ms")
	b.ReportMetric(float64(mo.Microseconds())/1000, "without-ms")
	b.ReportMetric(float64(mw)/float64(mo), "x-journal")
}

// benchRequest writes a request bundle for n new GUNs: the benchmark
// measures the offline init, not the server.
func benchRequest(b *testing.B, dir string, n int) []string {
	var guns []string
	for i := range n {
		guns = append(guns, fmt.Sprintf("registry.example.com/bench/app%03d", i))
	}
	if err := offline.NewRequest(dir, time.Now(), guns...); err != nil {
		b.Fatal(err)
	}
	return guns
}
