// Package examples is the root of lossfuse's examples module: real models
// trained on real data, with gonum for the linear layers and lossfuse for
// the loss and its gradient. The runnable programs are ./digits,
// ./breastcancer, ./diabetes, ./gorgonia, ./shards, ./customloss and ./distill (see docs/examples.md
// in the repository); Example_trainingLoop shows the pattern in ten lines.
package examples
