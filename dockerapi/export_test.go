package dockerapi

// Unexported helpers exposed to the black-box tests (package dockerapi_test).
var (
	ParseLoadStream   = parseLoadStream
	NormalizeArch     = normalizeArch
	ImageStoreOf      = imageStore
	IsAnonymousVolume = isAnonymousVolume
	SplitList         = splitList
	HasNestedMount    = hasNestedMount
	ExportSource      = exportSource
	OrderTags         = orderTags
	NormalizeRef      = normalizeRef
	ImageIDRef        = imageIDRef
)
