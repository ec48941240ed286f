// Command distill trains a student from a teacher's soft targets with
// kernels.Distill: the setting knowledge distillation is for, where labels
// are scarce and a trained teacher is not.
//
// The teacher is a linear softmax model trained with CrossEntropy on every
// labelled digit of the training set. The student, the same model from
// scratch, sees only the first few labels, and minimises
//
//	L = CE(student, labels on the labelled rows) + Distill(student, teacher, T)
//
// where Distill is T²·KL(softmax(t/T) ‖ softmax(s/T)) over every training
// row, labelled or not (Hinton's T² keeps the two gradients on one scale).
// The same student trained on the labelled rows alone is the baseline.
// -divergence swaps the forward KL for the reverse KL(Q‖P) or the
// generalised Jensen–Shannon divergence with mixing weight -beta (TRL's
// generalized_jsd_loss). Distill's gradient is checked against central
// differences first, for the divergence chosen.
//
//	go run ./distill
//	go run ./distill -labels 50 -temperature 2
//	go run ./distill -divergence jsd -beta 0.5
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/lossfuse/lossfuse/examples/internal/dataset"
	"github.com/lossfuse/lossfuse/kernels"
)

// gradCheck compares Distill's gradient at random student and teacher
// logits with central finite differences of its loss, and returns the
// largest error relative to the gradient's largest magnitude.
func gradCheck(n, k int, o *kernels.DistillOptions[float64], seed uint64) (float64, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	s, t := make([]float64, n*k), make([]float64, n*k)
	for i := range s {
		s[i], t[i] = 3*r.NormFloat64(), 3*r.NormFloat64()
	}
	grad := make([]float64, n*k)
	if _, err := kernels.Distill(s, t, n, k, grad, o); err != nil {
		return 0, err
	}
	var worst, scale float64
	const h = 1e-5
	for i := range s {
		orig := s[i]
		s[i] = orig + h
		up, err := kernels.Distill(s, t, n, k, nil, o)
		if err != nil {
			return 0, err
		}
		s[i] = orig - h
		down, err := kernels.Distill(s, t, n, k, nil, o)
		if err != nil {
			return 0, err
		}
		s[i] = orig
		worst = math.Max(worst, math.Abs((up-down)/(2*h)-grad[i]))
		scale = math.Max(scale, math.Abs(grad[i]))
	}
	if scale == 0 { // K = 1: every softmax is 1, the loss is 0
		return worst, nil
	}
	return worst / scale, nil
}

// model is a linear softmax classifier: logits = X·W.
type model struct{ w *mat.Dense }

func (m *model) logits(x *mat.Dense, out *mat.Dense) { out.Mul(x, m.w) }

// step takes a gradient step from the gradient with respect to the logits.
func (m *model) step(x, gradLogits *mat.Dense, lr float64) {
	var gw mat.Dense
	gw.Mul(x.T(), gradLogits)
	gw.Scale(lr, &gw)
	m.w.Sub(m.w, &gw)
}

func (m *model) accuracy(x *mat.Dense, labels []int32) float64 {
	var out mat.Dense
	out.Mul(x, m.w)
	right := 0
	for i, y := range labels {
		if mat.Row(nil, i, &out)[y] == mat.Max(out.RowView(i)) {
			right++
		}
	}
	return float64(right) / float64(len(labels))
}

// result holds the test accuracies of one run.
type result struct{ teacher, alone, distilled float64 }

// run trains the teacher, the student on nLabels labels alone and the
// student with distillation, and reports their test accuracies.
func run(w io.Writer, nLabels int, div kernels.Divergence, beta, temp float64, steps int) (result, error) {
	digits, err := dataset.Digits()
	if err != nil {
		return result{}, err
	}
	tr, te := dataset.Split(digits, 0.25, 1, true)
	dataset.Standardize(tr, te)
	n, d, k := tr.N, tr.D, 10
	x, labels := mat.NewDense(n, d, tr.X), tr.Labels()
	xt, labelsT := mat.NewDense(te.N, d, te.X), te.Labels()
	const lr = 0.5

	// The teacher: cross-entropy on every training label.
	teacher := &model{w: mat.NewDense(d, k, nil)}
	logits, grad := mat.NewDense(n, k, nil), mat.NewDense(n, k, nil)
	for range steps {
		teacher.logits(x, logits)
		if _, err := kernels.CrossEntropy(logits.RawMatrix().Data, labels, n, k, grad.RawMatrix().Data, nil); err != nil {
			return result{}, err
		}
		teacher.step(x, grad, lr)
	}
	var res result
	res.teacher = teacher.accuracy(xt, labelsT)
	teacherLogits := mat.NewDense(n, k, nil)
	teacher.logits(x, teacherLogits)

	// The students: the first nLabels rows keep their labels.
	xl := x.Slice(0, nLabels, 0, d).(*mat.Dense)
	ll := labels[:nLabels]
	train := func(distill bool) (*model, error) {
		m := &model{w: mat.NewDense(d, k, nil)}
		gl := mat.NewDense(nLabels, k, nil)
		o := &kernels.DistillOptions[float64]{Divergence: div, Beta: beta, Temperature: temp, ScaleT2: true}
		for i := range steps {
			// Labelled rows: cross-entropy, its mean over those rows.
			m.logits(x, logits)
			sl := logits.Slice(0, nLabels, 0, k).(*mat.Dense)
			var lsub mat.Dense
			lsub.CloneFrom(sl)
			ce, err := kernels.CrossEntropy(lsub.RawMatrix().Data, ll, nLabels, k, gl.RawMatrix().Data, nil)
			if err != nil {
				return nil, err
			}
			if !distill {
				m.step(xl, gl, lr)
				continue
			}
			// Every row: the teacher's soft targets.
			kl, err := kernels.Distill(logits.RawMatrix().Data, teacherLogits.RawMatrix().Data, n, k, grad.RawMatrix().Data, o)
			if err != nil {
				return nil, err
			}
			if i%(steps/4) == 0 || i == steps-1 {
				fmt.Fprintf(w, "  step %4d  CE on %d labels %.4f  distillation %.4f\n", i, nLabels, ce, kl)
			}
			// The two gradients add: the CE part lives on the first rows.
			gs := grad.Slice(0, nLabels, 0, k).(*mat.Dense)
			gs.Add(gs, gl)
			m.step(x, grad, lr)
		}
		return m, nil
	}
	alone, err := train(false)
	if err != nil {
		return result{}, err
	}
	res.alone = alone.accuracy(xt, labelsT)
	fmt.Fprintf(w, "student with distillation (%v, T = %v):\n", div, temp)
	distilled, err := train(true)
	if err != nil {
		return result{}, err
	}
	res.distilled = distilled.accuracy(xt, labelsT)
	return res, nil
}

func main() {
	nLabels := flag.Int("labels", 30, "labelled training rows the student sees")
	temp := flag.Float64("temperature", 4, "distillation temperature T")
	steps := flag.Int("steps", 200, "gradient steps")
	divName := flag.String("divergence", "forward", "forward (KL(P‖Q)), reverse (KL(Q‖P)) or jsd")
	beta := flag.Float64("beta", 0, "JSD's mixing weight in (0, 1); 0 means 0.5")
	flag.Parse()
	div, ok := map[string]kernels.Divergence{"forward": kernels.ForwardKL, "reverse": kernels.ReverseKL, "jsd": kernels.JSD}[*divName]
	if !ok {
		log.Fatalf("-divergence %q: want forward, reverse or jsd", *divName)
	}
	if div != kernels.JSD {
		*beta = 0
	}
	o := &kernels.DistillOptions[float64]{Divergence: div, Beta: *beta, Temperature: *temp, ScaleT2: true}
	rel, err := gradCheck(6, 9, o, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Distill's gradient (%v, N=6, K=9, T=%v, central differences, h=1e-5): largest error %.1e of the largest element\n", div, *temp, rel)
	res, err := run(os.Stdout, *nLabels, div, *beta, *temp, *steps)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("test accuracy: teacher (all labels) %.3f, student on %d labels %.3f, student on %d labels + distillation %.3f\n",
		res.teacher, *nLabels, res.alone, *nLabels, res.distilled)
}
