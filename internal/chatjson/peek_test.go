package chatjson
import ("testing";"encoding/json")
func TestPeek(t *testing.T){ ms := Messages(1, 2000); tot:=0; mn,mx:=1<<30,0
 for _,m:=range ms { if !json.Valid(m){t.Fatalf("invalid %s",m)}; tot+=len(m); mn=min(mn,len(m)); mx=max(mx,len(m))}
 t.Logf("avg %d min %d max %d", tot/len(ms), mn, mx); t.Logf("%s\n%s\n%s", ms[0], ms[1], ms[2])}
