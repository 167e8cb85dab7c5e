export { readU64, writeU64 } from '../util/u64'
