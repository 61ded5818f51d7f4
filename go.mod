module github.com/vibemon/vibemon

go 1.26
