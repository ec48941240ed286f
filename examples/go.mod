module github.com/lossfuse/lossfuse/examples

go 1.24.0

replace github.com/lossfuse/lossfuse => ../

require (
	github.com/lossfuse/lossfuse v0.0.0-00010101000000-000000000000
	gonum.org/v1/gonum v0.17.0
)

require golang.org/x/sys v0.30.0 // indirect
