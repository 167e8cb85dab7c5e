import t from 'tap'
import { groupStanding } from '../../lib/util/group-standing'

t.test('lag is what the group has still to read; what retention deleted before it read it is lost', async (t) => {
  t.same(groupStanding(0, 10, 4), { lag: 6, lost: 0 })
  t.same(groupStanding(0, 10, 10), { lag: 0, lost: 0 }, 'caught up')
  t.same(groupStanding(100, 150, 0), { lag: 50, lost: 100 }, 'committed below the first offset: it resumes there')
  t.same(groupStanding(100, 150, 120), { lag: 30, lost: 0 })
  t.same(groupStanding(0, 0, 0), { lag: 0, lost: 0 }, 'an empty partition')
  t.same(groupStanding(5, 8, 12), { lag: 0, lost: 0 }, 'never negative (a follower whose high watermark trails)')
})
