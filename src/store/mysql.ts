// Not written yet: this store refuses to open rather than pretend.
import { GeartrainError } from '../errors.js';
import { MemoryStore } from './memory.js';

export class MysqlStore extends MemoryStore {
  constructor(private readonly url: string) {
    super();
  }
  override async open(): Promise<void> {
    throw new GeartrainError('GT_STORE_UNAVAILABLE', `The mysql store is not available in this build (${this.url.replace(/\/\/[^@/]*@/, '//')})`);
  }
}
