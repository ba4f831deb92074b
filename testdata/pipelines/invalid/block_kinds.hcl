sorce "generate" "demo" {} # ERROR: Unsupported block type

source "generate" {} # ERROR: Missing name for source
