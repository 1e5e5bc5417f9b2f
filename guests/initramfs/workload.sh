# The fixed guest workload. guests/debian-linux.sh runs this same file with the same busybox on the host to
# compute guests/cache/expected.txt, so every RESULT line must be deterministic.
d=${VX86_WORKDIR:-/tmp}/vx86-data
i=0
s=1
while [ $i -lt 20000 ]; do
    s=$(( (s * 31 + i) % 1000000007 ))
    i=$((i + 1))
done
echo "RESULT arith $s"

seq 1 20000 | awk 'BEGIN { x = 1 } { x = (x * 75 + 74) % 65537; printf "%d %d\n", x, $1 }' > $d
set -- $(wc -l < $d); echo "RESULT lines $1"
set -- $(sha256sum < $d); echo "RESULT sha256 $1"
set -- $(gzip -9 < $d | wc -c); echo "RESULT gzip_bytes $1"
set -- $(gzip -9 < $d | gunzip | sha256sum); echo "RESULT gzip_roundtrip_sha256 $1"
set -- $(sort -n $d | sha256sum); echo "RESULT sorted_sha256 $1"
rm -f $d
