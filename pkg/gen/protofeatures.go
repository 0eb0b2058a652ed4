package gen

// Linked for start-up time, not used by name: protocompile's package
// initialisation finds the C++ and Java feature files registered by this
// generated code instead of building them itself (see its doc).
import _ "github.com/microtools/micro/internal/protofeatures"
