// Package protofeatures is protoc-gen-go's code for
// google/protobuf/cpp_features.proto and google/protobuf/java_features.proto,
// generated from the descriptors that github.com/bufbuild/protocompile
// embeds (internal/featuresext).
//
// It exists for start-up time. protocompile's package initialisation looks
// these two files up in protoregistry.GlobalFiles and, when no generated
// code registered them, builds them from its embedded descriptors with
// protodesc.NewFile: about 1.5 million instructions at the start of every
// micro command. Generated code registers them lazily for a fraction of
// that. Go initialises this package before protocompile because it needs
// only descriptorpb and sorts before protocompile's other dependencies; the
// instruction count of `micro version` (make bench-check) shows when that
// stops being so.
//
// Regenerate when protocompile's embedded descriptors change, with
// protoc-gen-go's internal_gengo and the M options
// Mgoogle/protobuf/{cpp,java}_features.proto=github.com/microtools/micro/internal/protofeatures.
package protofeatures
