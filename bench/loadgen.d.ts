export function bucketOf(us: number): number;
